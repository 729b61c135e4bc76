"""The one door to the model: ``openai.OpenAI`` with our own retry policy.

The client's built-in retries are off (they also retry 408 and 409); here 429 (honouring
``Retry-After``), 5xx, timeouts and dropped connections are retried with capped exponential backoff
and jitter, and every other 4xx ends the agent at once. Exceptions carry a class name or an HTTP
status, never a server's message (which may echo the request) and never the key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.agent.errors import ModelRejected, ModelUnreachable
from pipeline.agent.profiles import ServerProfile, detect_profile, get_profile
from pipeline.agent.settings import AgentSettings, ApiKey

log = logging.getLogger("chartsift.agent")

# A placeholder bearer for local servers that need no key; the openai client insists on one.
NO_KEY = "no-key"


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is the raw JSON text it sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelReply:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    chars: int  # characters received: content plus tool names and arguments
    retries: int


def request_chars(body: dict[str, Any]) -> int:
    """Characters of a request as it goes on the wire (its JSON), the unit of the character budget."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ModelClient:
    """Chat Completions against one server, with its profile's quirks and the retry policy."""

    def __init__(self, settings: AgentSettings, key: ApiKey | None, sleep: Callable[[float], None] = time.sleep) -> None:
        import openai  # imported here: the rules detector and the other commands never pay for it

        self.settings = settings
        self._openai = openai
        self._sleep = sleep
        self._client = openai.OpenAI(
            api_key=key.reveal() if key else NO_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=0,
        )
        self._profile: ServerProfile | None = None

    @property
    def profile(self) -> ServerProfile:
        """The configured profile, or the one detected once from the base URL and ``GET /models``."""
        if self._profile is None:
            if self.settings.server_profile != "auto":
                self._profile = get_profile(self.settings.server_profile)
            else:
                self._profile = detect_profile(self.settings.base_url, self._model_owners())
            log.info("agent server profile: %s", self._profile.name)
        return self._profile

    def _model_owners(self) -> set[str]:
        try:
            return {str(m.owned_by).lower() for m in self._client.models.list(timeout=min(10.0, self.settings.timeout_s)) if m.owned_by}
        except self._openai.OpenAIError as exc:
            log.info("agent profile detection: GET /models failed (%s); using the generic profile", type(exc).__name__)
            return set()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, max(self.settings.retry_max_s, 60.0))
        ceiling = min(self.settings.retry_max_s, self.settings.retry_base_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def complete(self, body: dict[str, Any], deadline: float | None = None) -> ModelReply:
        """One completion; retried where retrying is right. Raises ``ModelUnreachable``/``ModelRejected``."""
        openai = self._openai
        for attempt in range(self.settings.max_retries + 1):
            try:
                completion = self._client.chat.completions.create(**body)
                return self._reply(completion, attempt)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status != 429 and status < 500:
                    raise ModelRejected(f"model refused the request (HTTP {status})") from None
                failure, retry_after = f"HTTP {status}", _retry_after(exc.response.headers)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                failure, retry_after = type(exc).__name__, None
            except (openai.OpenAIError, ValueError, TypeError) as exc:  # an unreadable reply
                failure, retry_after = type(exc).__name__, None
            if attempt == self.settings.max_retries:
                break
            delay = self._delay(attempt, retry_after)
            if deadline is not None and time.monotonic() + delay > deadline:
                break
            log.info("agent model call failed (%s); retry %d in %.2f s", failure, attempt + 1, delay)
            self._sleep(delay)
        raise ModelUnreachable(f"model unreachable ({failure})")

    @staticmethod
    def _reply(completion: Any, retries: int) -> ModelReply:
        if not completion.choices:
            raise ValueError("a reply without choices")
        message = completion.choices[0].message
        calls = tuple(
            ToolCall(id=c.id or f"call_{i}", name=c.function.name or "", arguments=c.function.arguments or "")
            for i, c in enumerate(message.tool_calls or ())
            if getattr(c, "function", None) is not None
        )
        chars = len(message.content or "") + sum(len(c.name) + len(c.arguments) for c in calls)
        return ModelReply(message.content, calls, chars, retries)
