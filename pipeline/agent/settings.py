"""Where the agent's model, server and budgets come from: flags, then environment, then a TOML file.

The API key is deliberately not part of any of these objects' fields that are hashed or printed: it is
read at run time (``OPENAI_API_KEY``, or the config file's ``api_key_env``/``api_key``) into an
``ApiKey`` whose repr hides it, and it is never a detector parameter, so it cannot enter the
configuration hash, a stored row or a log line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.agent.errors import AgentConfigError

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "CHARTSIFT_MODEL"
SANDBOX_LEVELS = ("full", "partial", "none")
# "regions": the rules decide and the model settles only the candidates they are unsure of, from a few
# lines around each (pipeline.agent.regions); "explore": the model pages through the whole record with
# sandboxed tools, the rules' boundaries as hints (pipeline.agent.loop).
AGENT_MODES = ("regions", "explore")


class ApiKey:
    """The secret, kept out of reprs, hashes and messages; ``redact`` scrubs it from any text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "[redacted]") if self._value else text

    def __repr__(self) -> str:
        return "ApiKey(***)"

    __str__ = __repr__


@dataclass(frozen=True)
class Budgets:
    """Per-record limits; exceeding one ends the agent for that record with the rules fallback."""

    max_steps: int = 80
    max_chars_sent: int = 400_000
    max_seconds: float = 600.0
    max_invalid: int = 3  # invalid outputs the model may correct before the fallback


@dataclass(frozen=True)
class Paging:
    """How much of the record one tool result may carry."""

    page_lines: int = 120
    page_chars: int = 8_000
    hint_page_chars: int = 6_000
    region_margin: float = 0.2  # regions mode: candidates decided with a probability in [m, 1 - m) are asked
    region_lines_before: int = 2  # ... with the lines shown above each
    region_lines_after: int = 6  # ... and below it (its header block and the start of its body)
    region_call_chars: int = 8_000  # ... and the record's characters one question call may carry
    search_hits: int = 30
    search_timeout_s: float = 5.0  # a pattern that backtracks for ever is stopped by the sandbox
    output_chars: int = 4_000
    calls_per_turn: int = 16


@dataclass(frozen=True)
class AgentSettings:
    """The resolved configuration of the agent detector (everything but the key)."""

    model: str
    mode: str = "regions"
    base_url: str | None = None
    server_profile: str = "auto"
    accept_sandbox: str = "full"
    timeout_s: float = 60.0
    max_retries: int = 4
    retry_base_s: float = 0.5
    retry_max_s: float = 8.0
    max_output_tokens: int = 4096  # per reply: a small model under a grammar can otherwise ramble for minutes
    config_file: str | None = None
    budgets: Budgets = Budgets()
    paging: Paging = Paging()

    def hashed(self) -> dict[str, Any]:
        """What changes the rows: the model, the profile, the sandbox level accepted, budgets and paging.
        The server's address and the client's patience do not; the key never does."""
        return {
            "model": self.model,
            "mode": self.mode,
            "server_profile": self.server_profile,
            "accept_sandbox": self.accept_sandbox,
            "max_output_tokens": self.max_output_tokens,
            "budgets": asdict(self.budgets),
            "paging": asdict(self.paging),
        }


_TOP = {"model", "mode", "base_url", "server_profile", "accept_sandbox", "timeout_s", "max_retries", "retry_base_s", "retry_max_s", "max_output_tokens"}
_KEY_FIELDS = {"api_key", "api_key_env"}


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """The ``[agent]`` table of a TOML file (or its top level when it has none)."""
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentConfigError(f"agent config {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"agent config {path}: not valid TOML ({exc})") from None
    table = data.get("agent", data)
    unknown = set(table) - _TOP - _KEY_FIELDS - set(Budgets.__dataclass_fields__) - set(Paging.__dataclass_fields__)
    if unknown:
        raise AgentConfigError(f"agent config {path}: unknown keys {', '.join(sorted(unknown))}")
    return dict(table)


def resolve_settings(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> AgentSettings:
    """Flags (detector params) win over the environment, which wins over the config file."""
    environ = os.environ if environ is None else environ
    unknown = set(params) - _TOP - {"config_file"} - set(Budgets.__dataclass_fields__) - set(Paging.__dataclass_fields__)
    if unknown:
        raise AgentConfigError(f"unknown agent parameters: {', '.join(sorted(unknown))}")
    file_values = read_config_file(params.get("config_file"))
    env_values = {k: environ[v] for k, v in (("model", ENV_MODEL), ("base_url", ENV_BASE_URL)) if environ.get(v)}

    def pick(name: str) -> Any:
        for source in (params, env_values, file_values):
            if source.get(name) is not None:
                return source[name]
        return None

    model = pick("model")
    if not model:
        raise AgentConfigError(f"the agent needs a model: pass --model, set {ENV_MODEL} or give model in --agent-config")
    top = {k: v for k in _TOP - {"model"} if (v := pick(k)) is not None}
    if top.get("mode", "regions") not in AGENT_MODES:
        raise AgentConfigError(f"the agent mode must be one of {', '.join(AGENT_MODES)}")
    if top.get("accept_sandbox", "full") not in SANDBOX_LEVELS:
        raise AgentConfigError(f"accept_sandbox must be one of {', '.join(SANDBOX_LEVELS)}")
    try:
        budgets = Budgets(**{k: v for k in Budgets.__dataclass_fields__ if (v := pick(k)) is not None})
        paging = Paging(**{k: v for k in Paging.__dataclass_fields__ if (v := pick(k)) is not None})
        settings = AgentSettings(model=str(model), config_file=params.get("config_file"), budgets=budgets, paging=paging, **top)
    except TypeError as exc:
        raise AgentConfigError(f"bad agent parameter: {exc}") from None
    if not 0.0 < settings.paging.region_margin <= 0.5:
        raise AgentConfigError("region_margin must be above 0 and at most 0.5")
    return settings


def load_api_key(config_file: str | None, environ: Mapping[str, str] | None = None) -> ApiKey | None:
    """The key from ``OPENAI_API_KEY``, else the config file's ``api_key_env`` variable or ``api_key``."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_API_KEY):
        return ApiKey(environ[ENV_API_KEY])
    values = read_config_file(config_file)
    if values.get("api_key_env") and environ.get(values["api_key_env"]):
        return ApiKey(environ[values["api_key_env"]])
    if values.get("api_key"):
        return ApiKey(str(values["api_key"]))
    return None
