"""The agent detector: any OpenAI-compatible model finds encounters by paging through a record with
tools that run in the sandbox, while this process keeps the key, the state and the audit log.

Modules, one concern each: ``settings`` (flags, environment, TOML; the key), ``profiles`` (per-server
quirks), ``client`` (the ``openai`` client and retries), ``hints`` (rules boundaries as hints),
``tools`` (what the model may call), ``submission`` (validation and grounding), ``state`` (the
checkpointed running state), ``prompts`` (the compact summary), ``loop`` (steps and budgets),
``detector`` (the registered ``agent`` detector and its fallback) and ``cli`` (run options).

``AgentDetector`` is imported on first use (``pipeline.agent.detector`` pulls in the rules detector and
the sandbox), so ``chartsift --help`` and the run options stay fast; importing that module registers
the ``agent`` detector.
"""

from typing import Any

from pipeline.agent.errors import (
    AgentConfigError,
    AgentError,
    BudgetExhausted,
    InvalidOutput,
    ModelRejected,
    ModelUnreachable,
)
from pipeline.agent.profiles import ServerProfile, detect_profile, get_profile, profile_names, register_profile
from pipeline.agent.settings import AgentSettings, Budgets, Paging, resolve_settings



def __getattr__(name: str) -> Any:
    if name == "AgentDetector":
        from pipeline.agent.detector import AgentDetector

        return AgentDetector
    raise AttributeError(f"module 'pipeline.agent' has no attribute {name!r}")


__all__ = [
    "AgentConfigError",
    "AgentDetector",
    "AgentError",
    "AgentSettings",
    "Budgets",
    "BudgetExhausted",
    "InvalidOutput",
    "ModelRejected",
    "ModelUnreachable",
    "Paging",
    "ServerProfile",
    "detect_profile",
    "get_profile",
    "profile_names",
    "register_profile",
    "resolve_settings",
]
