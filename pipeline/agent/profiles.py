"""Per-server quirks in one small class each, so a new server kind is one class and one decorator.

Every OpenAI-compatible server speaks Chat Completions with tools, but they differ in the corners:
llama.cpp's server answers HTTP 500 to ``"content": null`` in an assistant turn that carries
tool_calls and to ``response_format={"type": "json_schema"}`` (while it honours
``{"type": "json_object", "schema": ...}``), and it calls tools reliably only when ``tool_choice``
names the function (and, like vLLM and Ollama, knows ``max_tokens`` but not ``max_completion_tokens``);
vLLM refuses ``"auto"`` unless started with a tool parser but always honours
``"required"``; Ollama ignores ``tool_choice``. A profile is chosen by name or detected from the
base URL and the ``owned_by`` of ``GET /models``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlparse

from pipeline.agent.errors import AgentConfigError

ACT_TOOL = "act"  # the one function of the single-tool mode


class ServerProfile:
    """The generic OpenAI-compatible behaviour; subclasses override only what differs."""

    name: ClassVar[str] = "openai"
    needs_key: ClassVar[bool] = True
    # "native": every tool is its own function; "single": one ``act`` function whose arguments name
    # the tool, forced by ``tool_choice`` (for servers that call tools reliably only when forced).
    tool_mode: ClassVar[str] = "native"
    assistant_content: ClassVar[str | None] = None  # content of an assistant turn that has tool_calls
    owners: ClassVar[frozenset[str]] = frozenset()  # ``owned_by`` values of GET /models that identify it

    def tool_choice(self) -> Any:
        """What to send as ``tool_choice``; None leaves it out. The loop always wants a tool call."""
        return {"type": "function", "function": {"name": ACT_TOOL}} if self.tool_mode == "single" else "required"

    def response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}

    def output_limit(self, tokens: int) -> dict[str, Any]:
        """The request field that caps a reply's length (OpenAI renamed ``max_tokens``)."""
        return {"max_completion_tokens": tokens}

    def adapt_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A tool's parameter schema as this server can take it."""
        return schema

    @classmethod
    def matches_url(cls, host: str, port: int | None) -> bool:
        return False


_PROFILES: dict[str, type[ServerProfile]] = {}


def register_profile(cls: type[ServerProfile]) -> type[ServerProfile]:
    _PROFILES[cls.name] = cls
    return cls


@register_profile
class OpenAIProfile(ServerProfile):
    name = "openai"
    owners = frozenset({"openai", "system", "openai-internal"})

    @classmethod
    def matches_url(cls, host: str, port: int | None) -> bool:
        return host == "api.openai.com"


@register_profile
class AzureProfile(ServerProfile):
    """Azure OpenAI's v1 endpoint (``https://NAME.openai.azure.com/openai/v1/``); the model is the deployment."""

    name = "azure"

    @classmethod
    def matches_url(cls, host: str, port: int | None) -> bool:
        return host.endswith(".openai.azure.com") or host.endswith(".services.ai.azure.com")


@register_profile
class VLLMProfile(ServerProfile):
    name = "vllm"
    needs_key = False
    owners = frozenset({"vllm"})

    def output_limit(self, tokens: int) -> dict[str, Any]:
        return {"max_tokens": tokens}


@register_profile
class OllamaProfile(ServerProfile):
    name = "ollama"
    needs_key = False
    owners = frozenset({"library", "ollama"})

    def tool_choice(self) -> Any:
        return None

    def output_limit(self, tokens: int) -> dict[str, Any]:
        return {"max_tokens": tokens}

    @classmethod
    def matches_url(cls, host: str, port: int | None) -> bool:
        return port == 11434


LENGTH_BOUNDS = frozenset({"maxLength", "minLength", "maxItems", "minItems"})


def _without_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_bounds(v) for k, v in node.items() if k not in LENGTH_BOUNDS}
    if isinstance(node, list):
        return [_without_bounds(v) for v in node]
    return node


@register_profile
class LlamaCppProfile(ServerProfile):
    name = "llamacpp"
    needs_key = False
    tool_mode = "single"
    assistant_content = ""
    owners = frozenset({"llamacpp", "me"})  # llama.cpp's C++ server, llama-cpp-python's server

    def response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        return {"type": "json_object", "schema": _without_bounds(schema)}

    def output_limit(self, tokens: int) -> dict[str, Any]:
        return {"max_tokens": tokens}

    def adapt_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Its grammar converter unrolls length bounds into one rule per repetition, and a
        ``maxLength`` of 200 makes a grammar it cannot parse (the server process aborts). Our own
        validation enforces the bounds anyway."""
        return _without_bounds(schema)


def profile_names() -> list[str]:
    return sorted(_PROFILES)


def get_profile(name: str) -> ServerProfile:
    try:
        return _PROFILES[name]()
    except KeyError:
        raise AgentConfigError(f"unknown server profile {name!r}; available: auto, {', '.join(profile_names())}") from None


def detect_profile(base_url: str | None, owners: set[str]) -> ServerProfile:
    """The profile a base URL or the ``owned_by`` of its models point to; the generic one otherwise."""
    parsed = urlparse(base_url or "https://api.openai.com/v1")
    host, port = (parsed.hostname or "").lower(), parsed.port
    for cls in _PROFILES.values():
        if cls.matches_url(host, port):
            return cls()
    for cls in _PROFILES.values():
        if cls.owners & owners:
            return cls()
    return OpenAIProfile()
