"""Which isolation level this machine gives, found by running the real thing, never by guessing.

``probe`` starts bubblewrap exactly as ``Sandbox.run`` does and runs ``selftest.py`` inside, which
tries each escape; the host then checks what only it can see (the input unchanged, the output
written, its loopback listener untouched, no process left behind). The report is cached per process;
``open_sandbox`` refuses, naming the unmet rules, when the caller asked for more than it found.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from pathlib import Path, PurePosixPath

from pipeline.sandbox.core import ETC_ENTRIES, ROOT_ENTRIES, SANDBOX_PYTHON, Sandbox
from pipeline.sandbox.model import (
    PARTIAL_UNAVAILABLE,
    Limits,
    RuleCheck,
    SandboxError,
    SandboxLevel,
    SandboxReport,
)
from pipeline.sandbox.process import rlimits

PROBE_LIMITS = Limits(timeout_s=20.0, memory_mb=256, max_procs=16, file_size_mb=1, tmp_mb=8, cpu_s=10)
ALLOWED_ENV = ("PATH", "LANG", "HOME", "PWD")  # bwrap sets PWD after --chdir
_REPO = Path(__file__).resolve().parents[2]
_SHARED_TOPS = {"usr", "bin", "sbin", "lib", "lib64", "proc", "dev"}  # host folders the sandbox does see
_INPUT_TEXT = "probe input\n"
_OUTPUT_TEXT = "written inside\n"

_lock = threading.Lock()
_cached: SandboxReport | None = None


def probe(refresh: bool = False) -> SandboxReport:
    """The best level available here, with rule-by-rule evidence; cached per process."""
    global _cached
    with _lock:
        if refresh or _cached is None:
            _cached = assess(shutil.which("bwrap"))
        return _cached


def open_sandbox(accept: SandboxLevel = SandboxLevel.full) -> Sandbox:
    """A Sandbox at the best level found, if it is at least ``accept``; else SandboxUnavailable naming
    the unmet rules. Never falls back silently: the returned ``Sandbox.level`` says what you got."""
    return Sandbox(probe().require(SandboxLevel(accept)))


def assess(bwrap: str | None) -> SandboxReport:
    """Runs the self-test under ``bwrap``: level full when every rule holds, else none (partial is not
    implemented, and the report says why)."""
    checks = _full_checks(bwrap)
    if all(check.holds for check in checks):
        return SandboxReport(SandboxLevel.full, checks)
    return SandboxReport(SandboxLevel.none, (*checks, RuleCheck("partial", False, PARTIAL_UNAVAILABLE)))


def pids_with_marker(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found, needle = [], marker.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _full_checks(bwrap: str | None) -> tuple[RuleCheck, ...]:
    if bwrap is None:
        return (RuleCheck("sandbox-starts", False, "bwrap not found on PATH (apt-get install bubblewrap)"),)
    if not Path(SANDBOX_PYTHON).is_file():
        return (RuleCheck("sandbox-starts", False, f"{SANDBOX_PYTHON} is missing (apt-get install python3)"),)
    with tempfile.TemporaryDirectory(prefix="chartsift-probe-") as folder, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        inputs, output = _probe_folders(Path(folder))
        marker = f"chartsift-probe-{uuid.uuid4().hex}"
        spec = {
            "host_pid": os.getpid(),
            "port": listener.getsockname()[1],
            "hidden": _hidden_paths(folder),
            "root_entries": sorted(ROOT_ENTRIES),
            "etc_entries": sorted(ETC_ENTRIES),
            "allowed_env": ALLOWED_ENV,
            "rlimits": {name: list(values) for name, values in rlimits(PROBE_LIMITS).items()},
            "tmp_mb": PROBE_LIMITS.tmp_mb,
            "max_procs": PROBE_LIMITS.max_procs,
        }
        source = Path(__file__).with_name("selftest.py").read_text(encoding="utf-8")
        argv = [SANDBOX_PYTHON, "-c", source, json.dumps(spec), marker]
        try:
            result = Sandbox(SandboxLevel.full, bwrap=bwrap).run(argv, {".": inputs}, output, PROBE_LIMITS)
            inside = json.loads(result.stdout) if result.exit_code == 0 else None
        except (SandboxError, ValueError) as exc:
            return (RuleCheck("sandbox-starts", False, f"{bwrap}: {exc}"),)
        if inside is None:
            last = (result.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:300]
            return (RuleCheck("sandbox-starts", False, f"{bwrap} exited {result.exit_code}: {last}"),)
        owner = _owner(output / "probe.txt")
        host_facts = {
            "no-network": _host_fact(_untouched(listener), "the host listener saw no connection"),
            "input-read-only": _host_fact((inputs / "probe.txt").read_text() == _INPUT_TEXT, "host copy unchanged"),
            "output-writable": _host_fact(_read(output / "probe.txt") == _OUTPUT_TEXT, "the host sees the file"),
            "unprivileged": _host_fact(owner not in (None, 0), f"its output file belongs to host uid {owner}"),
        }
        survivors = pids_with_marker(marker)
    started = RuleCheck("sandbox-starts", True, f"{bwrap} ran {SANDBOX_PYTHON} as the self-test in {result.seconds:.3f} s")
    checks = [started]
    for rule, (holds, detail) in inside.items():
        fact_holds, fact = host_facts.get(rule, (True, ""))
        checks.append(RuleCheck(rule, holds and fact_holds, detail + fact))
    checks.append(RuleCheck(
        "no-survivors", not survivors,
        f"a double-forked setsid child that closed its stdio: {len(survivors)} left when run() returned",
    ))  # fmt: skip
    return tuple(checks)


def _probe_folders(folder: Path) -> tuple[Path, Path]:
    inputs = folder / "input"
    inputs.mkdir(mode=0o755)
    inputs.chmod(0o755)
    probe_file = inputs / "probe.txt"
    probe_file.write_text(_INPUT_TEXT)
    probe_file.chmod(0o666)  # writable by anyone, so only the read-only mount can stop the write
    return inputs, folder / "output"


def _hidden_paths(folder: str) -> list[str]:
    """Host paths that must not exist inside; skips those the sandbox shares (/usr...) or owns (/tmp)."""
    candidates = {"/root", "/home", "/etc/shadow", "/etc/passwd", "/etc/hostname", "/var", "/run", "/sys", "/srv",
                  "/opt", "/mnt", "/boot", str(Path.home()), os.getcwd(), sys.prefix, str(_REPO), folder}  # fmt: skip
    return sorted(
        path for path in candidates
        if len(PurePosixPath(path).parts) > 1 and PurePosixPath(path).parts[1] not in _SHARED_TOPS
        and path not in ("/tmp", "/etc", "/workspace")
    )  # fmt: skip


def _host_fact(holds: bool, detail: str) -> tuple[bool, str]:
    return holds, f"; {detail}" if holds else f"; FAILED on the host: {detail}"


def _untouched(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return True
    return False


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None
