"""``Sandbox.run``: the one door through which an agent's tool call reaches the OS.

It validates the manifest (names under /workspace/input), prepares the output folder, and runs the
command under bubblewrap (level ``full``) or, when the caller accepted it, as a plain child with only
rlimits and an empty environment (level ``none``). Logs carry argv[0], the exit status and the
duration only: arguments, inputs and output may hold patient text.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.sandbox.model import (
    PARTIAL_UNAVAILABLE,
    ExecResult,
    Limits,
    SandboxError,
    SandboxLevel,
    SandboxUnavailable,
)
from pipeline.sandbox.process import SANDBOX_UID, Launch, Outcome, run_confined, stage_mounts, switching_uid

log = logging.getLogger("chartsift.sandbox")

WORKSPACE = "/workspace"
INPUT_ROOT = f"{WORKSPACE}/input"
OUTPUT_ROOT = f"{WORKSPACE}/output"
SANDBOX_PYTHON = "/usr/bin/python3"
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # plus HOME, the output folder

# What a dynamically linked program and /usr/bin/python3 need of the host, read-only, and nothing else.
_HOST_VIEW = (
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
    "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
)  # fmt: skip
ROOT_ENTRIES = frozenset({"bin", "sbin", "lib", "lib64", "usr", "etc", "proc", "dev", "tmp", "workspace"})
ETC_ENTRIES = frozenset({"ld.so.cache", "alternatives"})
# Every namespace (no network but lo), no nested user namespaces, no capabilities (--cap-drop, below).
# --as-pid-1: the command itself is pid 1, so its end ends every process in the namespace and bwrap
# reaps it; with bwrap's own init, bwrap may exit first and orphan a zombie to the host's init.
# /proc read-only: /proc/sys/kernel/core_pattern and friends would otherwise be writable.
_ISOLATION = (
    "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv",
    "--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev",
)  # fmt: skip
_WORKSPACE_WORD = re.compile(r"(?<![\w./-])/workspace(?![\w.-])")


@dataclass(frozen=True)
class InputMount:
    """One manifest entry: a normalised name under /workspace/input and the resolved host path."""

    name: str
    source: Path

    @property
    def dest(self) -> str:
        return INPUT_ROOT if self.name == "." else f"{INPUT_ROOT}/{self.name}"


class Sandbox:
    """Runs commands at one isolation level. Get one from ``open_sandbox``, which verifies the level."""

    def __init__(self, level: SandboxLevel, *, bwrap: str | None = None) -> None:
        self.level = SandboxLevel(level)
        if self.level is SandboxLevel.partial:
            raise SandboxUnavailable(PARTIAL_UNAVAILABLE)
        self._bwrap = bwrap or shutil.which("bwrap") or ""
        if self.level is SandboxLevel.full and not self._bwrap:
            raise SandboxUnavailable("bwrap not found on PATH (apt-get install bubblewrap)")

    def run(
        self,
        argv: Sequence[str],
        inputs: Mapping[str, Path],
        output_dir: Path,
        limits: Limits = Limits(),
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Runs ``argv`` with ``inputs`` read-only under /workspace/input and ``output_dir`` writable at
        /workspace/output (the working directory). stdin reads EOF unless ``stdin`` is given."""
        argv = [os.fspath(arg) for arg in argv]
        if not argv:
            raise SandboxError("nothing to run: argv is empty")
        isolated = self.level is SandboxLevel.full
        mounts = _input_mounts(inputs, check_readable=isolated and switching_uid())
        output = _prepare_output(Path(output_dir), chown=isolated and switching_uid())
        started = time.monotonic()
        backend = self._run_bwrap if isolated else _run_unisolated
        outcome = backend(argv, mounts, output, limits, stdin)
        seconds = time.monotonic() - started
        log.info(
            "sandbox %s: %s exited %d%s in %.3f s",
            self.level.value, argv[0], outcome.exit_code, " (timed out)" if outcome.timed_out else "", seconds,
        )  # fmt: skip
        return ExecResult(outcome.exit_code, outcome.stdout, outcome.stderr, outcome.timed_out, seconds, self.level)

    def _run_bwrap(
        self, argv: list[str], mounts: list[InputMount], output: Path, limits: Limits, stdin: bytes | None
    ) -> Outcome:
        paths, staged = stage_mounts([m.source for m in mounts] + [output])
        binds = [arg for mount, path in zip(mounts, paths[:-1], strict=True) for arg in ("--ro-bind", path, mount.dest)]
        info = os.pipe()
        command = [
            self._bwrap, *_ISOLATION, *_HOST_VIEW,
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--dir", INPUT_ROOT, *binds,
            "--bind", paths[-1], OUTPUT_ROOT, "--chdir", OUTPUT_ROOT,
            "--remount-ro", "/dev", "--remount-ro", "/", "--cap-drop", "ALL",
            *_setenv({**_ENV, "HOME": OUTPUT_ROOT}), "--info-fd", str(info[1]), "--", *argv,
        ]  # fmt: skip
        launch = Launch(command, env=dict(_ENV), cwd=Path("/"), limits=limits, stdin=stdin,
                        switch_uid=switching_uid(), mounts=staged, info_pipe=info)  # fmt: skip
        return run_confined(launch)


def _run_unisolated(
    argv: list[str], mounts: list[InputMount], output: Path, limits: Limits, stdin: bytes | None
) -> Outcome:
    """Level none: the caller's uid, the whole host and its network. Only rlimits, the empty
    environment and the timeout apply. ``/workspace`` in argv is rewritten to a host folder of symlinks
    (best effort: stdin and files are not rewritten)."""
    with tempfile.TemporaryDirectory(prefix="chartsift-workspace-") as folder:
        workspace = Path(folder)
        (workspace / "output").symlink_to(output)
        if mounts and mounts[0].name == ".":
            (workspace / "input").symlink_to(mounts[0].source)
        else:
            for mount in mounts:
                link = workspace / "input" / mount.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(mount.source)
        mapped = [_WORKSPACE_WORD.sub(lambda _: folder, arg) for arg in argv]
        return run_confined(Launch(mapped, env={**_ENV, "HOME": str(output)}, cwd=output, limits=limits, stdin=stdin))


def _input_mounts(inputs: Mapping[str, Path], *, check_readable: bool = False) -> list[InputMount]:
    """Validates the manifest before anything runs: relative names without '..', existing files or
    folders, '.' alone, no name inside another; with ``check_readable``, readable by the sandbox uid."""
    mounts = [InputMount(_checked_name(key), _checked_source(key, value, check_readable)) for key, value in inputs.items()]
    names = [m.name for m in mounts]
    if len(set(names)) != len(names):
        raise SandboxError(f"input names collide once normalised: {sorted(inputs)}")
    if "." in names and len(names) > 1:
        raise SandboxError("input '.' mounts a folder as /workspace/input itself and cannot be combined with others")
    for name in names:
        nested = [str(p) for p in PurePosixPath(name).parents if str(p) in names]
        if nested:
            raise SandboxError(f"input {name!r} lies inside input {nested[0]!r}")
    if "." in names and not mounts[0].source.is_dir():
        raise SandboxError("input '.' must be a folder")
    return mounts


def _checked_name(key: str) -> str:
    path = PurePosixPath(key)
    if not key or "\0" in key or path.is_absolute() or ".." in path.parts:
        raise SandboxError(f"input name {key!r} must be a relative path under {INPUT_ROOT} without '..'")
    return str(path)


def _checked_source(key: str, value: Path, check_readable: bool) -> Path:
    try:
        source = Path(value).resolve(strict=True)
        info = source.stat()
    except (OSError, RuntimeError) as exc:
        raise SandboxError(f"input {key!r}: {value}: {getattr(exc, 'strerror', None) or exc}") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise SandboxError(f"input {key!r}: {value} is neither a regular file nor a folder")
    if check_readable and not _sandbox_can_read(info):
        raise SandboxError(
            f"input {key!r}: {value} (mode {stat.S_IMODE(info.st_mode):04o}) is not readable by the sandbox "
            f"uid {SANDBOX_UID}; make it world-readable (folders also world-searchable)"
        )
    return source


def _sandbox_can_read(info: os.stat_result) -> bool:
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0)
    if info.st_uid == SANDBOX_UID:
        need <<= 6  # the owner bits
    return info.st_mode & need == need


def _prepare_output(output_dir: Path, *, chown: bool) -> Path:
    """Creates the output folder and, when the sandbox runs as uid 65534, hands the folder to it.
    A top-level folder (/, /etc, /tmp...) is refused: handing it to the sandbox would damage the host."""
    if len(output_dir.resolve().parts) < 3:
        raise SandboxError(f"output folder {output_dir} is a top-level folder; give the run a folder of its own")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        resolved = output_dir.resolve(strict=True)
        if chown and resolved.stat().st_uid != SANDBOX_UID:
            os.chown(resolved, SANDBOX_UID, SANDBOX_UID)
    except OSError as exc:
        raise SandboxError(f"output folder {output_dir}: {exc.strerror}") from None
    return resolved


def _setenv(env: Mapping[str, str]) -> list[str]:
    return [arg for name, value in env.items() for arg in ("--setenv", name, value)]
