"""Starting and reaping one confined child: rlimits, the switch to an unprivileged uid, death with
the parent, capped output, and a wall-clock timeout that leaves no process behind.

Both backends go through ``run_confined`` so the timeout, the output caps and the exit-status
convention are the same at every level. The child is prepared in ``preexec_fn`` in the order the
notes prescribe (setsid, rlimits, setgroups, setresgid, setresuid, PR_SET_PDEATHSIG last, since a uid
change clears it). As root it first re-mounts the declared host paths on a private tmpfs over /tmp,
in a mount namespace of its own: bubblewrap runs as uid 65534 and could not otherwise reach inputs
under a 0700 folder (pytest's, mkdtemp's), and neither the host's mount table nor its /tmp changes.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.sandbox.model import Limits, SandboxError

SANDBOX_UID = 65534  # nobody: the uid every sandboxed process runs as when the host process is root
OUTPUT_CAP = 1 << 20  # bytes kept of stdout and of stderr each; the rest is read and dropped
TIMEOUT_EXIT = 124
_DRAIN_S = 0.5  # after the command exits or is killed, how long its pipes may stay open
_REAP_S = 5.0  # after a kill, how long to wait for the sandbox's pid namespace to empty
_CHUNK = 1 << 16
_MB = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
_STAGE_ROOT = "/tmp"  # in the child's own mount namespace only


def rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    """(soft, hard) per rlimit name; CPU gets one extra second so SIGXCPU comes before SIGKILL."""
    return {
        "RLIMIT_CPU": (limits.cpu_s, limits.cpu_s + 1),
        "RLIMIT_AS": (limits.memory_mb * _MB,) * 2,
        "RLIMIT_FSIZE": (limits.file_size_mb * _MB,) * 2,
        "RLIMIT_NPROC": (limits.max_procs,) * 2,
        "RLIMIT_CORE": (0, 0),
    }


@dataclass(frozen=True)
class StagedMount:
    """A host path (resolved, with the identity it had when declared) and the mount point the child
    gives it on its private /tmp."""

    source: bytes
    identity: tuple[int, int]
    is_dir: bool
    stage: bytes


@dataclass(frozen=True)
class Launch:
    """Everything one confined child needs."""

    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path
    limits: Limits
    stdin: bytes | None = None
    switch_uid: bool = False
    mounts: tuple[StagedMount, ...] = ()
    info_pipe: tuple[int, int] | None = None  # bwrap --info-fd: (read end, write end passed to the child)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool


def switching_uid() -> bool:
    """Root hands the sandbox to uid 65534 (RLIMIT_NPROC is not enforced for uid 0)."""
    return os.geteuid() == 0


def stage_mounts(sources: Sequence[Path]) -> tuple[list[str], tuple[StagedMount, ...]]:
    """The paths bubblewrap should bind for ``sources``, and the mounts that make them reachable.

    As root: ``/tmp/<n>`` on the child's private tmpfs, where the child bind-mounts each source after
    checking it is still the file that was declared. Otherwise the sources themselves (an
    unprivileged user's own paths are reachable by that user).
    """
    if not switching_uid():
        return [str(source) for source in sources], ()
    mounts = []
    for index, source in enumerate(sources):
        info = source.stat()
        stage = f"{_STAGE_ROOT}/{index}"
        mounts.append(StagedMount(os.fsencode(source), (info.st_dev, info.st_ino), source.is_dir(), stage.encode()))
    return [m.stage.decode() for m in mounts], tuple(mounts)


def run_confined(launch: Launch) -> Outcome:
    """Runs ``launch.argv`` to completion or to the timeout; never leaves a process of it behind."""
    info_read, info_write = launch.info_pipe or (None, None)
    try:
        proc = subprocess.Popen(
            list(launch.argv),
            stdin=subprocess.PIPE if launch.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            pass_fds=() if info_write is None else (info_write,),
            preexec_fn=_child_setup(launch),
        )
    except (subprocess.SubprocessError, OSError) as exc:
        if info_read is not None:
            os.close(info_read)
        if isinstance(exc, OSError):
            raise SandboxError(f"cannot start {launch.argv[0]}: {exc.strerror}") from None
        raise SandboxError("the sandbox child failed before exec (staging mount, rlimit or uid switch)") from None
    finally:
        if info_write is not None:
            os.close(info_write)
    with _Watch(proc, launch.stdin, info_read) as watch:
        try:
            watch.pump(time.monotonic() + launch.limits.timeout_s)
        finally:  # also when the caller is interrupted: nothing outlives the call
            timed_out = not watch.exited
            watch.kill_all()
            returncode = proc.wait()
        out, err = watch.output()
    if timed_out:
        return Outcome(TIMEOUT_EXIT, out, err, True)
    return Outcome(returncode if returncode >= 0 else 128 - returncode, out, err, False)


def _child_setup(launch: Launch) -> Callable[[], None]:
    """The ``preexec_fn``: everything is computed here, in the parent, so the child only makes syscalls."""
    limits = [(getattr(resource, name), values) for name, values in rlimits(launch.limits).items()]
    mounts, switch_uid, parent = launch.mounts, launch.switch_uid, os.getpid()

    def setup() -> None:
        os.setsid()
        if mounts:
            _mount_staged(mounts)
        for which, values in limits:
            resource.setrlimit(which, values)
        if switch_uid:
            os.setgroups([])
            os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        _check(_libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0))
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os._exit(1)

    return setup


def _mount_staged(mounts: Sequence[StagedMount]) -> None:
    _check(_libc.unshare(_CLONE_NEWNS))
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None))
    fds = []
    for mount in mounts:  # opened before the tmpfs hides the host's /tmp
        fd = os.open(mount.source, os.O_PATH | os.O_NOFOLLOW)
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != mount.identity:
            raise OSError(errno.ESTALE, "input replaced since it was declared")
        fds.append(fd)
    _check(_libc.mount(b"tmpfs", _STAGE_ROOT.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=0711,size=64k"))
    for fd, mount in zip(fds, mounts, strict=True):
        if mount.is_dir:
            os.mkdir(mount.stage, 0o700)
        else:
            os.close(os.open(mount.stage, os.O_CREAT | os.O_WRONLY, 0o600))
        _check(_libc.mount(b"/proc/self/fd/%d" % fd, mount.stage, None, _MS_BIND, None))
        os.close(fd)


def _check(result: int) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@dataclass
class _Watch:
    """Feeds stdin, reads stdout/stderr into capped buffers, and watches the process (and, under
    bubblewrap, the sandbox's pid 1) through pidfds, so nothing is reaped or killed by a stale pid."""

    proc: subprocess.Popen[bytes]
    stdin: bytes | None
    info_fd: int | None
    exited: bool = False
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    _buffers: dict[int, bytearray] = field(default_factory=dict)
    _info: bytearray = field(default_factory=bytearray)
    _pidfd: int = -1
    _ns_pidfd: int | None = None
    _drain_until: float = float("inf")

    def __enter__(self) -> _Watch:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                self._buffers[pipe.fileno()] = bytearray()
                self._selector.register(pipe.fileno(), selectors.EVENT_READ)
        if self.stdin is not None and self.proc.stdin is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)
            self._selector.register(self.proc.stdin.fileno(), selectors.EVENT_WRITE, memoryview(self.stdin))
        if self.info_fd is not None:
            self._selector.register(self.info_fd, selectors.EVENT_READ)
        self._pidfd = os.pidfd_open(self.proc.pid)  # the child is not reaped before we close this
        self._selector.register(self._pidfd, selectors.EVENT_READ)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._selector.close()
        for fd in (self._pidfd, self._ns_pidfd, self.info_fd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()

    def pump(self, until: float) -> None:
        """Services the pipes until the process exited and its output pipes closed, or until ``until``."""
        while not (self.exited and not self._open_outputs()):
            remaining = min(until, self._drain_until) - time.monotonic()
            if remaining <= 0:
                return
            for key, _ in self._selector.select(remaining):
                self._service(key)

    def kill_all(self) -> None:
        """Ends everything the run started. Under bubblewrap the command is pid 1 of its own pid
        namespace: SIGKILL to it makes the kernel kill every process in the namespace, and bubblewrap
        then reaps it and exits by itself (killing bubblewrap first would orphan a zombie to the
        host's init, where it keeps counting against RLIMIT_NPROC). The launcher's process group gets
        SIGKILL last, as the backstop and, at level none, as the only reach there is."""
        if self._ns_pidfd is not None and not self.exited:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._ns_pidfd, signal.SIGKILL)
            self.pump(time.monotonic() + _REAP_S)
        with suppress(ProcessLookupError):  # the launcher is not reaped yet, so its group id is still ours
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._ns_pidfd is not None:  # readable once pid 1 is gone, i.e. once the namespace is empty
            select.select([self._ns_pidfd], [], [], _REAP_S)
        self.pump(time.monotonic() + _DRAIN_S)

    def output(self) -> tuple[bytes, bytes]:
        """stdout and stderr, each capped at OUTPUT_CAP (registered in that order)."""
        out, err = self._buffers.values()
        return bytes(out), bytes(err)

    def _open_outputs(self) -> bool:
        return any(fd in self._buffers for fd in self._selector.get_map())

    def _service(self, key: selectors.SelectorKey) -> None:
        fd = key.fd
        if fd == self._pidfd:
            self.exited = True
            self._drain_until = time.monotonic() + _DRAIN_S
            self._selector.unregister(fd)
        elif key.data is not None:
            self._feed(key)
        else:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                self._selector.unregister(fd)
                if fd == self.info_fd:
                    self._adopt_namespace()
            elif fd == self.info_fd:
                self._info += chunk
            else:
                buffer = self._buffers[fd]
                buffer += chunk[: max(0, OUTPUT_CAP - len(buffer))]

    def _feed(self, key: selectors.SelectorKey) -> None:
        data: memoryview = key.data
        try:
            written = os.write(key.fd, data[:_CHUNK])
        except BrokenPipeError:
            written = len(data)
        rest = data[written:]
        if rest:
            self._selector.modify(key.fd, selectors.EVENT_WRITE, rest)
        else:
            self._selector.unregister(key.fd)
            if self.proc.stdin is not None:  # EOF for the command
                self.proc.stdin.close()

    def _adopt_namespace(self) -> None:
        """Opens a pidfd on bubblewrap's pid 1, if it is still the launcher's child (not a reused pid)."""
        with suppress(ValueError, KeyError, OSError):
            pid = int(json.loads(self._info)["child-pid"])
            pidfd = os.pidfd_open(pid)
            if _parent_of(pid) == self.proc.pid:
                self._ns_pidfd = pidfd
            else:
                os.close(pidfd)


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])
