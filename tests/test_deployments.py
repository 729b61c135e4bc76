"""The scheduled product on real parts: `prefect server start` on 127.0.0.1, `prefect deploy --all`, a
process worker, the inbox deployment run with an empty inbox, with files, with one file changed, while
another process holds an analyst connection open the whole time. And a 200-record run under a reader."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.flow

READER = """
import duckdb, json, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
while True:
    runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    docs = [d for (d,) in con.execute("SELECT DISTINCT document_id FROM encounters").fetchall()]
    current = con.execute("SELECT count(*) FROM encounters_current").fetchone()[0]
    print(json.dumps({"t": time.time(), "runs": runs, "documents": docs, "current": current}), flush=True)
    time.sleep(0.5)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false"})
    env.update(extra)
    return env


def _read_observations(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def prefect_server_process(tmp_path_factory):
    """`prefect server start` on 127.0.0.1 with its own home; the scheduler service is off so that
    only the runs this test asks for happen."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = _offline_env(PREFECT_HOME=str(home), PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, (home / "server.log").read_text()[-3000:]
        time.sleep(0.5)
    else:
        raise AssertionError("prefect server did not become healthy in 180 s")
    yield url, home
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    log.close()


def _checkout(root: Path) -> Path:
    """A CHARTSIFT_HOME: the code by symlink, prefect.yaml copied, its own inbox/ and out/."""
    root.mkdir()
    for name in ("flows", "pipeline", "schemas", "data"):
        (root / name).symlink_to(REPO / name)
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    return root


def _run_deployment(url: str, name: str) -> tuple[object, float]:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = time.monotonic()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        flow_run = run_deployment(name, timeout=600, poll_interval=1)
    return flow_run, time.monotonic() - started


def _flow_run_logs_and_artifacts(url: str, flow_run_id) -> tuple[list[str], list[str]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read():
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs], [a.data for a in artifacts]

    with temporary_settings(updates={PREFECT_API_URL: url}):
        return asyncio.run(read())


def _logs_once_they_arrive(url: str, flow_run_id, expected) -> tuple[list[str], list[str]]:
    """A flow run's logs and artifacts; its last log lines reach the API after its final state, so wait for them."""
    deadline = time.monotonic() + 60
    while True:
        logs, artifacts = _flow_run_logs_and_artifacts(url, flow_run_id)
        if any(expected(m) for m in logs) or time.monotonic() > deadline:
            return logs, artifacts
        time.sleep(1)


def test_the_inbox_deployment_on_a_real_server_worker_and_a_reader_held_open(prefect_server_process, tmp_path: Path) -> None:
    url, _ = prefect_server_process
    home = _checkout(tmp_path / "home")
    prefect = [sys.executable, "-m", "prefect"]
    env = _offline_env(PREFECT_API_URL=url, CHARTSIFT_HOME=str(home))

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    pool = subprocess.run([*prefect, "work-pool", "create", "chartsift", "--type", "process"], env=env, capture_output=True, text=True, timeout=180)
    assert pool.returncode == 0 or "already exists" in pool.stdout + pool.stderr, pool.stderr[-2000:]
    # Deploying without CHARTSIFT_HOME fails at once, saying what to set.
    unset = {k: v for k, v in env.items() if k != "CHARTSIFT_HOME"}
    refused = subprocess.run([*prefect, "--no-prompt", "deploy", "--all"], env=unset, cwd=home, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "set CHARTSIFT_HOME" in refused.stdout + refused.stderr
    deploy = subprocess.run([*prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert deploy.returncode == 0, (deploy.stdout + deploy.stderr)[-3000:]
    timings["deploy"] = time.monotonic() - t0

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def deployments():
        async with get_client() as client:
            return await client.read_deployments()

    with temporary_settings(updates={PREFECT_API_URL: url}):
        found = {d.name: d for d in asyncio.run(deployments())}
    assert {"inbox", "reprocess", "verify"} <= set(found)
    assert found["inbox"].schedules and found["verify"].schedules and not found["reprocess"].schedules
    limit = found["inbox"].global_concurrency_limit
    assert limit is not None and limit.limit == 1, found["inbox"]
    described = found["inbox"].parameter_openapi_schema["properties"]
    assert all(p.get("description") for p in described.values()), described

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [*prefect, "worker", "start", "--pool", "chartsift", "--type", "process"],
        env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    reader = None
    out = home / "out" / "inbox"
    try:
        # 1. No inbox at all: a completed run with 0 records.
        empty_run, timings["empty inbox run"] = _run_deployment(url, "process_records/inbox")
        assert empty_run.state.is_completed(), empty_run.state
        logs, artifacts = _logs_once_they_arrive(url, empty_run.id, lambda m: ": 0 records, 0 stored" in m)
        assert any(": 0 records, 0 stored" in m for m in logs), logs
        assert artifacts and "| records | 0 |" in artifacts[0]

        # An analyst connection, opened now and held for the rest of the test.
        observations = tmp_path / "reader.jsonl"
        reader = subprocess.Popen([sys.executable, "-c", READER, str(out / "catalog.duckdb")], stdout=observations.open("w"), stderr=subprocess.PIPE, text=True)

        # 2. Files arrive.
        inbox = home / "inbox"
        shutil.copytree(SAMPLES / "records", inbox)
        files_run, timings["10-record inbox run"] = _run_deployment(url, "process_records/inbox")
        assert files_run.state.is_completed() and files_run.state.name == "Completed", files_run.state

        # 3. One file changes and an empty one arrives.
        target = sorted(inbox.glob("*.txt"))[0]
        target.write_text(target.read_text(encoding="utf-8") + "\nLate addendum.\n", encoding="utf-8")
        (inbox / "blank.txt").write_bytes(b"")
        changed_run, timings["changed-file inbox run"] = _run_deployment(url, "process_records/inbox")
        assert changed_run.state.name == "CompletedWithQuarantine", changed_run.state
        logs, artifacts = _logs_once_they_arrive(url, changed_run.id, lambda m: "blank.txt: empty file" in m)
        assert any("1 stored" in m and "1 quarantined" in m for m in logs), logs
        assert any("blank.txt: empty file" in m for m in logs) and "blank.txt: empty file" in artifacts[0]

        time.sleep(2)  # two more polls of the reader
        assert reader.poll() is None, reader.stderr.read()[-2000:]
    finally:
        if reader is not None:
            reader.kill()
            reader.wait()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        worker_log.close()

    seen = _read_observations(observations)
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT flow_run_id, records_total, records_stored, records_quarantined, status FROM runs ORDER BY started_at").fetchall()
        current = con.execute("SELECT count(*) FROM encounters_current").fetchone()[0]
        every = con.execute("SELECT count(*) FROM encounters").fetchone()[0]
        target_docs = con.execute("SELECT count(DISTINCT document_id) FROM encounters_current WHERE record = ?", [target.name]).fetchone()[0]
        quarantined = con.execute("SELECT record FROM quarantine_current").fetchall()
    assert [r[0] for r in runs] == [str(empty_run.id), str(files_run.id), str(changed_run.id)]
    assert [r[1:] for r in runs] == [(0, 0, 0, "completed"), (10, 10, 0, "completed"), (11, 1, 1, "completed_with_quarantine")]
    assert target_docs == 1 and every > current and quarantined == [("blank.txt",)]
    # The held connection saw every run arrive, and ends seeing what a new connection sees.
    assert [o["runs"] for o in seen][0] == 1 and seen[-1]["runs"] == 3 and seen[-1]["current"] == current
    history = subprocess.run([sys.executable, "-m", "pipeline.cli", "history", str(target), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert history.returncode == 0 and "v1 " in history.stdout and "v2 current" in history.stdout, history.stdout + history.stderr
    print("lane timings (s):", {k: round(v, 1) for k, v in timings.items()})


def test_a_reader_held_open_through_a_200_record_run_sees_rows_within_60_s_of_their_commit(prefect_server, tmp_path: Path) -> None:
    from pipeline.store import state_path
    from pipeline.synth import generate_corpus

    generate_corpus(tmp_path / "corpus", records=200, seed=909, variant="clean")
    records = tmp_path / "corpus" / "records"
    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    cli = [sys.executable, "-m", "pipeline.cli"]
    first = sorted(records.glob("*.txt"))[:1]
    assert subprocess.run([*cli, "run", *map(str, first), "--out", str(out), "--quiet"], env=env, cwd=REPO, timeout=300).returncode == 0
    observations = tmp_path / "reader.jsonl"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out / "catalog.duckdb")], stdout=observations.open("w"), stderr=subprocess.PIPE, text=True)
    try:
        started = time.time()
        run = subprocess.run([*cli, "run", str(records), "--out", str(out), "--quiet"], env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stderr[-2000:]
        finished = time.time()
        time.sleep(2)
        assert reader.poll() is None, reader.stderr.read()[-2000:]
    finally:
        reader.kill()
        reader.wait()
    with duckdb.connect(str(state_path(out)), read_only=True) as con:
        committed = dict(con.execute("SELECT document_id, epoch(completed_at) FROM completions").fetchall())
    seen = _read_observations(observations)
    first_seen: dict[str, float] = {}
    for o in seen:
        for doc in o["documents"]:
            first_seen.setdefault(doc, o["t"])
    assert set(first_seen) == set(committed) and len(committed) == 200
    lag = [first_seen[d] - committed[d] for d in committed if committed[d] >= started]
    assert max(lag) <= 60, max(lag)
    assert sum(first_seen[d] < finished for d in committed) > 100  # most were visible while the run still ran
    print(f"200 records in {finished - started:.0f} s; visible after commit: max {max(lag):.1f} s, mean {sum(lag) / len(lag):.1f} s")
