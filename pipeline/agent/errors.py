"""Why the agent stopped, as exceptions under ``ChartsiftError``.

An ``AgentError`` ends the agent for one record; its ``reason`` (prefixed "agent: ") becomes the
``fallback_reason`` stored on that record's rules rows. Reasons name a class, a status or a budget,
never patient text, never the API key. ``AgentConfigError`` is a usage error: the run cannot start.
"""

from __future__ import annotations

from pipeline.errors import ChartsiftError, UsageError


class AgentConfigError(UsageError):
    """The agent is configured wrongly (missing model, unreadable config file, unknown profile)."""


class AgentError(ChartsiftError):
    """The agent gave up on one record; the record falls back to the rules result."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"agent: {reason}")
        self.reason = f"agent: {reason}"


class ModelUnreachable(AgentError):
    """No usable answer after the retries (connection refused or dropped, timeouts, 429, 5xx)."""


class ModelRejected(AgentError):
    """The server refused the request with a 4xx other than 429; retrying would not help."""


class InvalidOutput(AgentError):
    """The model's output stayed invalid after the allowed number of corrections."""


class BudgetExhausted(AgentError):
    """A per-record budget (steps, characters sent, wall time) ran out."""


class ToolFailed(AgentError):
    """The sandbox could not run a tool (it could not start, a mount was refused)."""
