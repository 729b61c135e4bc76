"""The agent's running state, kept by the harness (never by the model, never in the sandbox).

It is everything needed to continue a record after a crash: the step counter and budgets spent, what
was read and searched, the encounters found so far, the model's open questions, the problems to
report, and the latest turn (the model's tool calls and the results obtained so far). A turn whose
calls are not all answered is resumed by executing the rest, so a model call whose reply was
checkpointed is never made twice. It round-trips through JSON (``Catalog.save_agent_state``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.agent.client import ToolCall
from pipeline.agent.submission import ProposedEncounter

STATE_FORMAT = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Call(_Frozen):
    id: str
    name: str
    arguments: str


class Result(_Frozen):
    id: str
    text: str


class Turn(_Frozen):
    """The model's latest tool calls and the results answered so far, in call order."""

    calls: tuple[Call, ...] = ()
    results: tuple[Result, ...] = ()
    invalid: bool = False  # an invalid output was counted for this turn already
    final: bool = False  # the answer to the last step's request for a bare submission

    @property
    def pending(self) -> tuple[Call, ...]:
        return self.calls[len(self.results) :]


def merge_ranges(ranges: tuple[tuple[int, int], ...], new: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Sorted, merged 1-based inclusive line ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted((*ranges, new)):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


class AgentState(_Frozen):
    format: int = STATE_FORMAT
    step: int = 0  # steps recorded so far; the next step's number
    model_calls: int = 0
    chars_sent: int = 0
    chars_received: int = 0
    elapsed_s: float = 0.0
    invalid: int = 0  # turns with an invalid output so far (bad JSON, unknown tool, refused call, rejected submission)
    hint_pages_seen: tuple[int, ...] = ()
    pages_read: tuple[tuple[int, int], ...] = ()
    searched: tuple[tuple[int, int], ...] = ()
    encounters: tuple[ProposedEncounter, ...] = ()
    dropped_evidence: int = 0
    open_questions: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()  # what was wrong with the model's last output
    turn: Turn = Turn()
    done: bool = False

    def evolve(self, **changes: Any) -> AgentState:
        return self.model_copy(update=changes)

    def with_calls(self, calls: tuple[ToolCall, ...]) -> AgentState:
        return self.evolve(turn=Turn(calls=tuple(Call(id=c.id, name=c.name, arguments=c.arguments) for c in calls)))

    def with_result(self, text: str) -> AgentState:
        call = self.turn.pending[0]
        return self.evolve(turn=self.turn.model_copy(update={"results": (*self.turn.results, Result(id=call.id, text=text))}))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AgentState | None:
        """A checkpoint in this format, or None (start afresh) for any other."""
        if not data or data.get("format") != STATE_FORMAT:
            return None
        return cls.model_validate(data)
