"""Crash anywhere, lose nothing: SIGKILL trials, a full disk, and no orphan processes.

Runs are real ``chartsift run`` processes against the session's Prefect server, killed with SIGKILL
at seeded moments, then run again with the same arguments; the result must equal an uninterrupted
run's, with no duplicate or orphan rows.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.store import state_path
from tests.conftest import REPO

pytestmark = pytest.mark.flow

KILL_TRIALS = 6


def chartsift(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def exported(out: Path) -> list[dict]:
    records = [json.loads(line) for line in _export_lines(out)]
    for r in records:
        for e in r["encounters"]:
            e.pop("encounter_id")  # ids are deterministic, but compare content
    return records


def state(out: Path) -> duckdb.DuckDBPyConnection:
    """The writer's state database, read once no run holds it."""
    return duckdb.connect(str(state_path(out)), read_only=True)


def integrity(out: Path) -> dict[str, int]:
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as con:  # what analysts see
        published = con.execute("SELECT count(*) - count(DISTINCT encounter_id), count(*) FROM encounters").fetchone()
        unpublished_runs = con.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    with state(out) as con:
        return {
            "published_duplicates": published[0],
            "published_encounters_missing": con.execute("SELECT count(*) FROM encounters").fetchone()[0] - published[1],
            "runs_left_running": unpublished_runs,
            "queued": con.execute("SELECT count(*) FROM publication_queue").fetchone()[0],
            "duplicates": con.execute("SELECT count(*) - count(DISTINCT encounter_id) FROM encounters").fetchone()[0],
            "orphan_encounters": con.execute(
                "SELECT count(*) FROM encounters e WHERE NOT EXISTS (SELECT 1 FROM completions c "
                "WHERE c.document_id = e.document_id AND c.config_hash = e.config_hash)").fetchone()[0],
            "orphan_evidence": con.execute(
                "SELECT count(*) FROM evidence v WHERE NOT EXISTS (SELECT 1 FROM encounters e WHERE e.encounter_id = v.encounter_id)").fetchone()[0],
            "incomplete_documents": con.execute(
                "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM completions c WHERE c.document_id = d.document_id)").fetchone()[0],
            "completed": con.execute("SELECT count(*) FROM completions").fetchone()[0],
        }


def completed(out: Path) -> int:
    """Records completed so far; none when the kill came before the catalog or its schema existed."""
    if not state_path(out).exists():
        return 0
    with state(out) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return con.execute("SELECT count(*) FROM completions").fetchone()[0] if "completions" in tables else 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from pipeline.synth import generate_corpus

    root = tmp_path_factory.mktemp("kill-corpus")
    generate_corpus(root, records=24, seed=31, variant="hard")
    return root / "records"


@pytest.fixture(scope="module")
def reference(prefect_server, corpus: Path, tmp_path_factory) -> tuple[list[dict], float]:
    out = tmp_path_factory.mktemp("reference")
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    started = time.monotonic()
    proc = chartsift("run", str(corpus), "--out", str(out), "--quiet", env=env)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return exported(out), time.monotonic() - started


def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_run(prefect_server, corpus, reference, tmp_path, record_property) -> None:
    expected, duration = reference
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    rng = random.Random(20261127)
    table = []
    for trial in range(KILL_TRIALS):
        out = tmp_path / f"trial-{trial}"
        moment = duration * rng.uniform(0.45, 0.95)  # start-up (imports) takes the first ~40%
        proc = chartsift("run", str(corpus), "--out", str(out), "--quiet", env=env)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        before = completed(out)
        again = chartsift("run", str(corpus), "--out", str(out), "--quiet", "--json", env=env)
        stdout, err = again.communicate(timeout=600)
        assert again.returncode == 0, err[-2000:]
        summary = json.loads(stdout)
        checks = integrity(out)
        identical = exported(out) == expected
        table.append((trial, round(moment, 2), before, summary["skipped"], identical))
        assert summary["skipped"] == before  # completed records are not redone
        assert identical, f"trial {trial}: export differs after a kill at {moment:.2f} s"
        assert checks["duplicates"] == checks["orphan_encounters"] == checks["orphan_evidence"] == 0
        assert checks["incomplete_documents"] == 0
        # what the killed run committed reached the analysts once, and the killed run says it failed
        assert checks["published_duplicates"] == checks["published_encounters_missing"] == checks["queued"] == 0
        assert checks["runs_left_running"] == 0
        assert not list(out.rglob("*.tmp"))
    record_property("kill_trials", table)
    print("trial, moment s, records done before, skipped on rerun, identical:", *table, sep="\n")


def test_a_killed_run_leaves_no_process_and_no_stale_lock(tmp_path: Path) -> None:
    """Without PREFECT_API_URL the run starts its own Prefect server; SIGKILL must take it along."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    records = tmp_path / "records"
    shutil.copytree(REPO / "data" / "samples" / "records", records)
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(records), "--out", str(tmp_path / "out")],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        children = [int(p) for p in _children(proc.pid)]
        time.sleep(0.2)
    assert children, "the run started no server process"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)], "a process the run started outlived it"


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_output_disk_full_is_a_clear_error_and_committed_rows_survive(prefect_server, tmp_path: Path, capsys) -> None:
    from pipeline.cli import main
    from pipeline.synth import generate_corpus

    generate_corpus(tmp_path / "big", records=30, seed=5, variant="hard")  # ~2 MB of records
    out = tmp_path / "small"
    out.mkdir()
    # Mounting needs root, as CI and the development machines run; elsewhere this fails loudly, not skips.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)], check=True)
    try:
        code = main(["run", str(tmp_path / "big" / "records"), "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 1
        assert "No space left on device" in err or "disk is full" in err
        with state(out) as con:
            done = con.execute("SELECT count(*) FROM completions").fetchone()[0]
            bad = con.execute(
                "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM completions c WHERE c.document_id = d.document_id)"
            ).fetchone()[0]
        assert bad == 0 and 0 < done < 30
    finally:
        subprocess.run(["umount", str(out)], check=False)


def test_a_changed_byte_between_runs_is_a_new_document_not_a_mix(prefect_server, tmp_path: Path, capsys) -> None:
    from pipeline.cli import main

    records = tmp_path / "records"
    shutil.copytree(REPO / "data" / "samples" / "records", records)
    out = tmp_path / "out"
    assert main(["run", str(records), "--out", str(out), "--quiet"]) == 0
    target = sorted(records.glob("*.txt"))[1]
    data = bytearray(target.read_bytes())
    data[100] ^= 0x20  # flip letter case of one byte
    target.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["run", str(records), "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["stored"], summary["skipped"]) == (1, len(list(records.glob("*.txt"))) - 1)
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as con:
        versions = con.execute("SELECT document_id FROM documents WHERE record = ?", [target.name]).fetchall()
        assert len(versions) == 2
        latest = con.execute(
            "SELECT i.sha256 FROM manifest_inputs i JOIN runs r USING (manifest_id) WHERE i.record = ? ORDER BY r.started_at DESC LIMIT 1",
            [target.name],
        ).fetchone()[0]
        stored_text = con.execute("SELECT text FROM documents WHERE document_id = ?", [latest]).fetchone()[0]
        mixed = con.execute(
            "SELECT count(DISTINCT document_id) FROM encounters WHERE record = ? AND run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)",
            [target.name],
        ).fetchone()[0]
    assert stored_text == bytes(data).decode("utf-8")
    assert mixed == 1
    exported_records = {r["record"]: r for r in map(json.loads, _export_lines(out))}
    assert exported_records[target.name]["document_id"] == latest


def _export_lines(out: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "export", "--out", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


AGENT_TRIALS = 5
AGENT_KEY = "sk-test-resume-canary-5d1e"


def agent_counts(out: Path) -> tuple[int, int]:
    """(model calls recorded in agent_steps, records started but not stored)."""
    with state(out) as con:
        calls = con.execute("SELECT count(*) FROM agent_steps WHERE tool = 'model'").fetchone()[0]
        unfinished = con.execute("SELECT count(*) FROM agent_checkpoints").fetchone()[0]
    return calls, unfinished


def test_agent_runs_killed_at_random_moments_resume_without_repeating_checkpointed_calls(prefect_server, tmp_path: Path) -> None:
    from pipeline.synth import generate_corpus
    from tests.openai_server import Competent, ModelServer

    generate_corpus(tmp_path / "corpus", records=6, seed=77, variant="hard")
    records = tmp_path / "corpus" / "records"
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "OPENAI_API_KEY": AGENT_KEY}
    rng = random.Random(5)
    table = []
    with ModelServer(Competent(), key=AGENT_KEY) as server:
        agent = ["--detector", "agent", "--agent-mode", "explore", "--model", "test-model", "--base-url", server.url, "--server-profile", "openai"]

        def run(out: Path, *extra: str) -> subprocess.Popen:
            return chartsift("run", str(records), "--out", str(out), "--quiet", *agent, *extra, env=env)

        first = run(tmp_path / "reference")
        _, err = first.communicate(timeout=600)
        assert first.returncode == 0, err[-2000:]
        expected = exported(tmp_path / "reference")
        total_calls = server.calls
        assert agent_counts(tmp_path / "reference") == (total_calls, 0)

        for trial in range(AGENT_TRIALS):
            out = tmp_path / f"agent-{trial}"
            # The moment is a model call: the run dies right after the server received call number k.
            kill_at = rng.randint(1, total_calls - 1)
            calls_at_start = server.calls
            started = time.monotonic()
            proc = run(out)
            while server.calls - calls_at_start < kill_at and proc.poll() is None:
                time.sleep(0.005)
            moment = time.monotonic() - started
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            calls_before = server.calls - calls_at_start
            checkpointed, unfinished = agent_counts(out) if state_path(out).exists() else (0, 0)
            done_before = completed(out)
            again = run(out)
            _, err = again.communicate(timeout=600)
            assert again.returncode == 0, err[-2000:]
            calls_after = server.calls - calls_at_start - calls_before
            identical = exported(out) == expected
            table.append((f"agent-{trial}", kill_at, round(moment, 2), done_before, calls_before, calls_after, identical))
            # A record interrupted mid-step may repeat the one call whose answer was not yet checkpointed.
            assert calls_after <= total_calls - checkpointed + max(1, unfinished)
            assert identical
            checks = integrity(out)
            assert checks["duplicates"] == checks["orphan_encounters"] == checks["orphan_evidence"] == 0
    print("trial, killed after call, moment s, records done before, model calls before, model calls after, identical:",
          *table, sep="\n")


def test_two_concurrent_runs_on_one_out(prefect_server, tmp_path: Path) -> None:
    """A second run on an OUT that another run is writing waits for the lock, gives up after its timeout
    naming the holder's pid; the holder then finishes with a complete, uncorrupted catalog. The holder is
    an agent run whose model answers its first ten calls 4 s late, so it holds the lock for far longer than
    the waiter needs to start even on a loaded machine (three late answers were not enough once)."""
    import fcntl

    from pipeline.synth import generate_corpus
    from tests.openai_server import Competent, Fault, ModelServer

    generate_corpus(tmp_path / "corpus", records=2, seed=3, variant="hard")
    records = str(tmp_path / "corpus" / "records")
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "OPENAI_API_KEY": AGENT_KEY}
    out = tmp_path / "out"
    with ModelServer(Competent(), key=AGENT_KEY, faults=(Fault("slow", seconds=4.0),) * 10) as server:
        holder = chartsift("run", records, "--out", str(out), "--quiet", "--detector", "agent", "--agent-mode", "explore",
                           "--model", "test-model", "--base-url", server.url, "--server-profile", "openai", env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _locked(out / ".chartsift.lock", fcntl):
            time.sleep(0.05)
        waiter = chartsift("run", records, "--out", str(out), "--quiet", "--lock-timeout", "1", env=env)
        _, err = waiter.communicate(timeout=300)
        assert waiter.returncode == 1, err[-2000:]
        assert f"another chartsift run (pid {holder.pid}) is writing {out}; waited 1 s" in err
        _, err = holder.communicate(timeout=600)
    assert holder.returncode == 0, err[-2000:]
    checks = integrity(out)
    assert checks["completed"] == 2 and checks["duplicates"] == checks["orphan_evidence"] == 0


def _locked(path: Path, fcntl) -> bool:
    """True while another process holds the writer lock on ``path``."""
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
