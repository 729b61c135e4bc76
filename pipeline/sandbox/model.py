"""The sandbox's vocabulary: levels, limits, results, the probe's report and the errors.

Kept apart from the machinery so the agent code and the CLI can import the types without pulling in
process handling, and so the refusal logic (``SandboxReport.require``) is testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pipeline.errors import ChartsiftError


class SandboxError(ChartsiftError):
    """A sandboxed run cannot be set up (bad manifest name, unusable input or output folder)."""


class SandboxUnavailable(SandboxError):
    """The isolation level asked for cannot be had here; the message names the unmet rules."""


class SandboxLevel(str, Enum):
    """How much isolation a run gets, best first."""

    full = "full"  # bubblewrap: own mount, pid, net, user namespaces; every rule verified by the self-test
    partial = "partial"  # Landlock + seccomp: not implemented (see PARTIAL_UNAVAILABLE)
    none = "none"  # plain subprocess with rlimits and an empty environment: NO isolation

    @property
    def rank(self) -> int:
        return {"none": 0, "partial": 1, "full": 2}[self.value]


PARTIAL_UNAVAILABLE = (
    "the Landlock + seccomp backend is not implemented: without a pid namespace the command could still "
    "signal host processes of its uid and a seccomp filter would have to be hand-built; bubblewrap gives 'full'"
)


@dataclass(frozen=True)
class Limits:
    """Per-run bounds. CPU, memory and file size are per process; the wall clock bounds the whole run."""

    timeout_s: float = 10.0
    memory_mb: int = 512  # RLIMIT_AS of each process
    max_procs: int = 32  # RLIMIT_NPROC of the sandbox uid (the launcher's own processes count)
    file_size_mb: int = 64  # RLIMIT_FSIZE: largest file a process may write
    tmp_mb: int = 64  # size of the tmpfs at /tmp (counts against host memory)
    cpu_s: int = 30  # RLIMIT_CPU of each process

    def __post_init__(self) -> None:
        bad = [name for name, value in vars(self).items() if not value > 0]
        if bad:
            raise SandboxError(f"sandbox limits must be positive: {', '.join(bad)}")


@dataclass(frozen=True)
class ExecResult:
    """What one command did. ``exit_code`` is 124 on timeout and 128+N when killed by signal N;
    ``stdout`` and ``stderr`` hold at most ``OUTPUT_CAP`` bytes each (the rest is read and dropped)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float
    level: SandboxLevel


@dataclass(frozen=True)
class RuleCheck:
    """One isolation rule as the probe found it; ``detail`` says what was tried and what happened."""

    rule: str
    holds: bool
    detail: str


@dataclass(frozen=True)
class SandboxReport:
    """The best level available and the evidence for it."""

    level: SandboxLevel
    checks: tuple[RuleCheck, ...]

    def require(self, accept: SandboxLevel) -> SandboxLevel:
        """The level reached if it is at least ``accept``; else SandboxUnavailable naming the unmet rules."""
        if self.level.rank >= accept.rank:
            return self.level
        unmet = "; ".join(f"{c.rule}: {c.detail}" for c in self.checks if not c.holds) or "none recorded"
        raise SandboxUnavailable(
            f"sandbox level {accept.value!r} is not available (best here: {self.level.value!r}); unmet rules: {unmet}"
        )
