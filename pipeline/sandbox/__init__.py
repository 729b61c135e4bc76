"""The OS sandbox in which an LLM agent's tool calls run: no secrets, no network, and only what the
manifest mounts (inputs read-only at /workspace/input, one output folder at /workspace/output).

Why a package of its own: the agent must never run a command on the host directly, and what
isolation it got must be known and checked, not assumed. ``probe`` finds the level by running
bubblewrap and a self-test inside it; ``open_sandbox`` refuses when that is less than the caller
accepts; every ``ExecResult`` carries the level it ran under.
"""

from pipeline.sandbox.core import INPUT_ROOT, OUTPUT_ROOT, SANDBOX_PYTHON, Sandbox
from pipeline.sandbox.model import (
    ExecResult,
    Limits,
    RuleCheck,
    SandboxError,
    SandboxLevel,
    SandboxReport,
    SandboxUnavailable,
)
from pipeline.sandbox.probe import open_sandbox, probe
from pipeline.sandbox.process import OUTPUT_CAP, SANDBOX_UID, TIMEOUT_EXIT

__all__ = [
    "INPUT_ROOT",
    "OUTPUT_CAP",
    "OUTPUT_ROOT",
    "SANDBOX_PYTHON",
    "SANDBOX_UID",
    "TIMEOUT_EXIT",
    "ExecResult",
    "Limits",
    "RuleCheck",
    "Sandbox",
    "SandboxError",
    "SandboxLevel",
    "SandboxReport",
    "SandboxUnavailable",
    "open_sandbox",
    "probe",
]
