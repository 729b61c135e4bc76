"""The sandbox, attacked for real. Every test runs bubblewrap (no mocks) and asserts the specific
refusal (an errno, a refused connection, exit 124, a process gone), not just a non-zero status.

Without bwrap these tests FAIL, loudly; they never skip (CI installs bubblewrap and python3).
The harness's environment holds a canary API key throughout, and no sandbox output may contain it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipeline.sandbox import (
    OUTPUT_CAP,
    SANDBOX_PYTHON,
    SANDBOX_UID,
    ExecResult,
    Limits,
    RuleCheck,
    Sandbox,
    SandboxError,
    SandboxLevel,
    SandboxReport,
    SandboxUnavailable,
    open_sandbox,
    probe,
)
from pipeline.sandbox import cli as sandbox_cli
from pipeline.sandbox.probe import assess, pids_with_marker
from tests.conftest import REPO

CANARY = "sk-test-canary-9f3b2d7e41c8"
PROBES = Path(__file__).parent / "sandbox_probes"
# Prepended to every snippet: attempt(action) -> "ok" or the errno name the action failed with.
PRELUDE = """\
import errno, os, sys
def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"
"""


@pytest.fixture(autouse=True)
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host process holds an API key, as the agent's will."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    assert shutil.which("bwrap"), (
        f"bubblewrap is missing (apt-get install bubblewrap); CI={os.environ.get('CI')!r}: these tests never skip"
    )
    return open_sandbox(SandboxLevel.full)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def py(
    sandbox: Sandbox,
    out: Path,
    code: str,
    *args: str,
    inputs: Mapping[str, Path] | None = None,
    limits: Limits = Limits(),
) -> ExecResult:
    """Runs a Python snippet (``attempt`` predefined) in the sandbox; checks the canary never leaks."""
    result = sandbox.run([SANDBOX_PYTHON, "-c", PRELUDE + code, *args], inputs or {}, out, limits)
    assert CANARY.encode() not in result.stdout + result.stderr
    assert result.level is SandboxLevel.full
    return result


def lines(result: ExecResult) -> list[str]:
    return result.stdout.decode().splitlines()


def processes_of_sandbox_uid() -> set[int]:
    uid = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        uids = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")]
        if uids == [str(uid)]:
            found.add(int(entry.name))
    return found


def readable_folder(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o755)
    return path


# --- the level, and refusing less than asked ------------------------------------------------------


def test_bubblewrap_and_python3_are_installed() -> None:
    assert shutil.which("bwrap"), "apt-get install bubblewrap"
    assert Path(SANDBOX_PYTHON).is_file(), "apt-get install python3"


def test_probe_verifies_every_rule_at_full() -> None:
    report = probe()
    assert report.level is SandboxLevel.full
    assert [c for c in report.checks if not c.holds] == []
    assert {c.rule for c in report.checks} >= {
        "sandbox-starts", "no-network", "empty-environment", "host-invisible", "input-read-only",
        "output-writable", "rest-read-only", "proc-sys-read-only", "limits-set", "forks-capped",
        "host-processes-unreachable", "unprivileged", "dies-with-parent", "no-new-user-namespaces", "no-survivors",
    }  # fmt: skip
    assert probe() is report  # cached per process


def test_open_sandbox_gives_the_best_level_it_verified(sandbox: Sandbox) -> None:
    assert sandbox.level is SandboxLevel.full
    assert open_sandbox(SandboxLevel.none).level is SandboxLevel.full


def test_without_bwrap_the_level_is_none_and_full_is_refused_naming_the_rules() -> None:
    report = assess(None)
    assert report.level is SandboxLevel.none
    with pytest.raises(SandboxUnavailable, match=r"'full' is not available.*sandbox-starts: bwrap not found"):
        report.require(SandboxLevel.full)
    with pytest.raises(SandboxUnavailable, match=r"partial: the Landlock \+ seccomp backend is not implemented"):
        report.require(SandboxLevel.partial)
    assert report.require(SandboxLevel.none) is SandboxLevel.none


def test_a_launcher_that_fails_is_not_full() -> None:
    report = assess("/bin/false")  # runs for real: "bwrap" exits 1 before any rule can be checked
    assert report.level is SandboxLevel.none
    assert report.checks[0] == RuleCheck("sandbox-starts", False, "/bin/false exited 1: no message")


def test_a_failing_rule_is_named_in_the_refusal() -> None:
    report = SandboxReport(SandboxLevel.none, (RuleCheck("no-network", False, "interfaces ['lo', 'eth0']"),))
    with pytest.raises(SandboxUnavailable, match=r"no-network: interfaces \['lo', 'eth0'\]"):
        report.require(SandboxLevel.full)


def test_partial_is_unavailable_with_the_reason() -> None:
    with pytest.raises(SandboxUnavailable, match="signal host processes"):
        Sandbox(SandboxLevel.partial)


# --- what the agent may do --------------------------------------------------------------------------


def test_reads_mounted_inputs_and_writes_the_output(sandbox: Sandbox, tmp_path: Path, out: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("BP 120/80\n")
    records = readable_folder(tmp_path / "records")
    (records / "r1.txt").write_text("record one\n")
    code = (
        "print(open('/workspace/input/notes/note.txt').read(), end='')\n"
        "print(open('/workspace/input/records/r1.txt').read(), end='')\n"
        "open('result.txt', 'w').write(os.getcwd())\n"
    )
    result = py(sandbox, out, code, inputs={"notes/note.txt": note, "./records/": records})
    assert (result.exit_code, result.stdout, result.stderr) == (0, b"BP 120/80\nrecord one\n", b"")
    assert (out / "result.txt").read_text() == "/workspace/output"


def test_dot_mounts_a_folder_as_the_input_root(sandbox: Sandbox, tmp_path: Path, out: Path) -> None:
    records = readable_folder(tmp_path / "records")
    (records / "r1.txt").write_text("record one\n")
    result = sandbox.run(["cat", "/workspace/input/r1.txt"], {".": records}, out)
    assert (result.exit_code, result.stdout) == (0, b"record one\n")


def test_exit_status_and_stdin_pass_through(sandbox: Sandbox, out: Path) -> None:
    given = sandbox.run(["sh", "-c", "cat; exit 7"], {}, out, stdin=b"piped in\n")
    assert (given.exit_code, given.stdout, given.timed_out) == (7, b"piped in\n", False)
    closed = sandbox.run(["sh", "-c", "cat; echo end"], {}, out)  # no stdin given: reads EOF at once
    assert (closed.exit_code, closed.stdout) == (0, b"end\n")


def test_large_stdin_is_fed_without_deadlock(sandbox: Sandbox, out: Path) -> None:
    result = sandbox.run(["wc", "-c"], {}, out, stdin=b"x" * (3 << 20))
    assert (result.exit_code, result.stdout) == (0, b"3145728\n")


def test_output_is_capped(sandbox: Sandbox, out: Path) -> None:
    result = sandbox.run(["head", "-c", str(3 * OUTPUT_CAP), "/dev/zero"], {}, out)
    assert (result.exit_code, len(result.stdout)) == (0, OUTPUT_CAP)


# --- secrets ----------------------------------------------------------------------------------------


def test_host_secret_is_unreadable_from_env_and_proc(sandbox: Sandbox, out: Path) -> None:
    code = """
print("names", *sorted(os.environ))
print("values", *os.environ.values())
for pid in ["self", "1", str(os.getppid()), sys.argv[1]] + [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        blob = open(f"/proc/{pid}/environ", "rb").read()
    except OSError as exc:
        print("environ", pid, errno.errorcode[exc.errno])
    else:
        print("environ", pid, "read", blob.replace(b"\\0", b" ").decode(errors="replace"))
"""
    result = py(sandbox, out, code, str(os.getpid()))  # os.getpid(): the host process holding the key
    output = lines(result)
    assert output[0] == "names HOME LANG PATH PWD"
    assert f"environ {os.getpid()} ENOENT" in output
    assert "environ 0 ENOENT" in output  # the sandbox's parent is outside its pid namespace
    assert "OPENAI_API_KEY" not in result.stdout.decode()


# --- the host file system ---------------------------------------------------------------------------


def test_host_paths_are_invisible(sandbox: Sandbox, tmp_path: Path, out: Path) -> None:
    canary_file = tmp_path / "canary.txt"
    canary_file.write_text(CANARY)
    canary_file.chmod(0o644)
    targets = ["/root", "/etc/shadow", "/etc/passwd", "/home", "/var", "/run", "/sys", str(REPO),
               str(REPO / "pipeline" / "errors.py"), str(canary_file), str(Path.home()), sys.prefix]  # fmt: skip
    code = "for path in sys.argv[1:]:\n    print(attempt(lambda: os.stat(path)), attempt(lambda: open(path, 'rb').read()))"
    result = py(sandbox, out, code, *targets)
    assert lines(result) == ["ENOENT ENOENT"] * len(targets)


def test_input_mount_is_read_only(sandbox: Sandbox, tmp_path: Path, out: Path) -> None:
    record = tmp_path / "record.txt"
    record.write_text("original\n")
    record.chmod(0o666)  # writable by anyone: only the read-only mount can stop the write
    records = readable_folder(tmp_path / "records")
    records.chmod(0o777)
    code = """
print(attempt(lambda: open("/workspace/input/record.txt", "a").write("changed")))
print(attempt(lambda: os.unlink("/workspace/input/record.txt")))
print(attempt(lambda: open("/workspace/input/records/new.txt", "w")))
print(attempt(lambda: open("/workspace/input/new.txt", "w")))
"""
    result = py(sandbox, out, code, inputs={"record.txt": record, "records": records})
    assert lines(result) == ["EROFS"] * 4
    assert record.read_text() == "original\n" and list(records.iterdir()) == []


def test_writes_outside_the_output_are_refused(sandbox: Sandbox, out: Path) -> None:
    targets = ["/x", "/usr/x", "/usr/bin/x", "/etc/x", "/workspace/x", "/dev/x", "/proc/sys/kernel/core_pattern"]
    code = "for path in sys.argv[1:]:\n    print(path, attempt(lambda: open(path, 'wb').close()))"
    result = py(sandbox, out, code, *targets)
    assert lines(result) == [f"{path} EROFS" for path in targets]


def test_tmp_is_a_capped_tmpfs(sandbox: Sandbox, out: Path) -> None:
    code = "print(attempt(lambda: open('/tmp/fill', 'wb').write(b'x' * (3 << 20))))"
    assert lines(py(sandbox, out, code, limits=Limits(tmp_mb=1))) == ["ENOSPC"]


def test_symlinks_in_the_output_resolve_inside_the_sandbox(sandbox: Sandbox, tmp_path: Path, out: Path) -> None:
    canary_file = tmp_path / "canary.txt"
    canary_file.write_text(CANARY)
    canary_file.chmod(0o644)
    out.mkdir()
    (out / "to_canary").symlink_to(canary_file)
    (out / "to_hostname").symlink_to("/etc/hostname")
    (out / "to_root").symlink_to("/root")
    code = """
print(attempt(lambda: print(open("to_canary").read())))
print(attempt(lambda: print(open("to_hostname").read())))
print(attempt(lambda: print(os.listdir("to_root"))))
"""
    result = py(sandbox, out, code)
    assert lines(result) == ["ENOENT"] * 3
    assert Path("/etc/hostname").read_text().strip() not in result.stdout.decode()


# --- the network ------------------------------------------------------------------------------------


def test_cannot_connect_to_a_host_loopback_listener(sandbox: Sandbox, out: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        code = (
            "import socket\n"
            "print([name for _, name in socket.if_nameindex()])\n"
            "print(attempt(lambda: socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)))\n"
        )
        result = py(sandbox, out, code, str(listener.getsockname()[1]))
        assert lines(result) == ["['lo']", "ECONNREFUSED"]
        with pytest.raises(BlockingIOError):  # nothing reached the host's listener
            listener.accept()


def test_cannot_resolve_a_host_name(sandbox: Sandbox, out: Path) -> None:
    code = """
import socket
try:
    socket.getaddrinfo("example.com", 443)
    print("resolved")
except socket.gaierror as exc:
    print("gaierror", exc.errno in (socket.EAI_AGAIN, socket.EAI_NONAME))
"""
    assert lines(py(sandbox, out, code)) == ["gaierror True"]


# --- limits and the wall clock ----------------------------------------------------------------------


def test_fork_bomb_is_capped_fast_and_leaves_nothing(sandbox: Sandbox, out: Path) -> None:
    before, started = processes_of_sandbox_uid(), time.monotonic()
    counting = """
import signal
forks = 0
try:
    while forks < 500:
        if os.fork() == 0:
            signal.pause()
            os._exit(0)
        forks += 1
except OSError as exc:
    print(forks, errno.errorcode[exc.errno])
"""
    count, refusal = lines(py(sandbox, out, counting, limits=Limits(max_procs=8)))[0].split()
    assert refusal == "EAGAIN" and int(count) < 8
    bomb = "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = py(sandbox, out, bomb, limits=Limits(max_procs=8, timeout_s=1.5))
    assert (result.exit_code, result.timed_out) == (124, True)
    assert time.monotonic() - started < 10
    assert processes_of_sandbox_uid() - before == set()


def test_memory_past_the_limit_raises_memory_error(sandbox: Sandbox, out: Path) -> None:
    code = "try:\n    block = bytearray(512 << 20)\nexcept MemoryError:\n    print('MemoryError')"
    assert lines(py(sandbox, out, code, limits=Limits(memory_mb=128))) == ["MemoryError"]


def test_file_past_the_size_limit_is_refused(sandbox: Sandbox, out: Path) -> None:
    code = "print(attempt(lambda: open('big', 'wb').write(b'x' * (3 << 20))))"
    assert lines(py(sandbox, out, code, limits=Limits(file_size_mb=1))) == ["EFBIG"]
    assert (out / "big").stat().st_size == 1 << 20
    shell = sandbox.run(["sh", "-c", "head -c 3145728 /dev/zero > big2; echo status $?"], {}, out, Limits(file_size_mb=1))
    assert shell.stdout == b"status 153\n"  # 128 + SIGXFSZ: head was killed


def test_cpu_limit_kills_a_busy_loop(sandbox: Sandbox, out: Path) -> None:
    result = sandbox.run([SANDBOX_PYTHON, "-c", "while True: pass"], {}, out, Limits(cpu_s=1, timeout_s=10))
    assert (result.exit_code, result.timed_out) == (128 + 9, False)  # SIGKILL at the hard CPU limit
    assert result.seconds < 5


def test_timeout_kills_a_setsid_child_too(sandbox: Sandbox, out: Path) -> None:
    marker = f"chartsift-test-{uuid.uuid4().hex}"
    code = """
import subprocess, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", sys.argv[1]], start_new_session=True)
print("started", flush=True)
time.sleep(60)
"""
    result = py(sandbox, out, code, marker, limits=Limits(timeout_s=1))
    assert (result.exit_code, result.timed_out, lines(result)) == (124, True, ["started"])
    assert 1 <= result.seconds < 4
    assert pids_with_marker(marker) == []


def test_double_forked_daemon_dies_with_the_run(sandbox: Sandbox, out: Path) -> None:
    marker = f"chartsift-test-{uuid.uuid4().hex}"
    daemon = """
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(1)
        os.close(2)
        time.sleep(60)
    os._exit(0)
os.wait()
print("parent leaves", flush=True)
"""
    left = py(sandbox, out, daemon, marker)
    assert (left.exit_code, lines(left), left.timed_out) == (0, ["parent leaves"], False)
    assert left.seconds < 3 and pids_with_marker(marker) == []
    stuck = py(sandbox, out, daemon + "time.sleep(60)\n", marker, limits=Limits(timeout_s=1))
    assert (stuck.exit_code, stuck.timed_out) == (124, True)
    assert pids_with_marker(marker) == []


def test_sandbox_dies_with_its_parent(tmp_path: Path) -> None:
    marker = f"chartsift-test-{uuid.uuid4().hex}"
    parent = subprocess.Popen([sys.executable, str(PROBES / "hold_sandbox.py"), str(tmp_path / "out"), marker])
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "out" / "ready").exists():
            assert time.monotonic() < deadline and parent.poll() is None, "the sandboxed sleeper never started"
            time.sleep(0.05)
        assert pids_with_marker(marker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5  # the death signal travels parent -> bwrap -> pid 1 asynchronously
    while pids_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_with_marker(marker) == []


def test_cannot_signal_or_trace_host_processes(sandbox: Sandbox, out: Path) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    try:
        code = """
import ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
print("ppid", os.getppid())
for pid in map(int, sys.argv[1:]):
    killed = attempt(lambda: os.kill(pid, signal.SIGKILL))
    traced = "attached" if libc.ptrace(16, pid, None, None) == 0 else errno.errorcode[ctypes.get_errno()]
    print(pid, killed, traced)
print("everyone", attempt(lambda: os.kill(-1, signal.SIGKILL)))
"""
        result = py(sandbox, out, code, str(victim.pid), str(os.getpid()))
        assert lines(result) == ["ppid 0", f"{victim.pid} ESRCH ESRCH", f"{os.getpid()} ESRCH ESRCH", "everyone ESRCH"]
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_logs_name_the_program_never_the_arguments(sandbox: Sandbox, out: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="chartsift.sandbox"):
        result = sandbox.run([SANDBOX_PYTHON, "-c", "# Patient: Jane Roe, MRN 123456\nraise SystemExit(3)"], {}, out)
    assert result.exit_code == 3
    assert "/usr/bin/python3 exited 3" in caplog.text and "Jane Roe" not in caplog.text


# --- the manifest -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "notes/../../escape.txt", "a/..", ""])
def test_bad_input_names_are_refused_before_anything_runs(sandbox: Sandbox, tmp_path: Path, name: str) -> None:
    record = tmp_path / "record.txt"
    record.write_text("x")
    with pytest.raises(SandboxError, match=r"must be a relative path under /workspace/input without '\.\.'"):
        sandbox.run(["touch", "/workspace/output/ran"], {name: record}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unusable_inputs_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    record.write_text("x")
    folder = readable_folder(tmp_path / "records")
    cases = [
        ({"a.txt": tmp_path / "missing.txt"}, "No such file or directory"),
        ({".": folder, "a.txt": record}, "cannot be combined"),
        ({"d": folder, "d/a.txt": record}, "input 'd/a.txt' lies inside input 'd'"),
        ({".": record}, "input '.' must be a folder"),
        ({"a": record, "./a": record}, "collide"),
    ]
    if os.geteuid() == 0:  # the sandbox runs as uid 65534, which cannot read a 0600 root file
        secret = tmp_path / "secret.txt"
        secret.write_text("x")
        secret.chmod(0o600)
        cases.append(({"secret.txt": secret}, "mode 0600.*not readable by the sandbox uid 65534"))
    for inputs, message in cases:
        with pytest.raises(SandboxError, match=message):
            sandbox.run(["true"], inputs, tmp_path / "out")


def test_a_top_level_output_folder_is_refused(sandbox: Sandbox) -> None:
    target = Path(f"/chartsift-test-{uuid.uuid4().hex}")
    with pytest.raises(SandboxError, match="is a top-level folder"):
        sandbox.run(["true"], {}, target)
    assert not target.exists()


def test_level_none_runs_unisolated_and_says_so(tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    record.write_text("record one\n")
    script = "cat /workspace/input/notes/record.txt; echo made > /workspace/output/made.txt; env | cut -d= -f1 | sort"
    result = Sandbox(SandboxLevel.none).run(["sh", "-c", script], {"notes/record.txt": record}, tmp_path / "out")
    assert result.level is SandboxLevel.none
    assert (result.exit_code, lines(result)) == (0, ["record one", "HOME", "LANG", "PATH", "PWD"])
    assert (tmp_path / "out" / "made.txt").read_text() == "made\n"


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_check_prints_each_rule_and_exits_0_at_full(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_cli.main(["sandbox", "check"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("sandbox level: full\n")
    assert "FAIL" not in printed and "  ok    no-network" in printed


def test_cli_exec_prints_output_and_passes_the_status(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    records = readable_folder(tmp_path / "records")
    (records / "r1.txt").write_text("record one\n")
    argv = ["sandbox", "exec", "--input", str(records), "--output", str(tmp_path / "out"), "--",
            "sh", "-c", "cat /workspace/input/r1.txt; echo oops >&2; exit 3"]  # fmt: skip
    assert sandbox_cli.main(argv) == 3
    captured = capsysbinary.readouterr()
    assert (captured.out, captured.err) == (b"record one\n", b"oops\n")


def test_cli_exec_times_out_with_124(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sandbox", "exec", "--output", str(tmp_path / "out"), "--timeout", "0.5", "--", "sleep", "5"]
    assert sandbox_cli.main(argv) == 124
    assert "timed out after 0.5 s" in capsys.readouterr().err
