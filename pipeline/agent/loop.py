"""The agent loop: one model call or one tool call per step, a checkpoint after every step.

Each step is either a model call (when the latest turn has no unanswered tool calls) or the next
unanswered tool call. Before each step the budgets are checked (invalid outputs, steps, wall time;
characters just before a model call) and exceeding one raises, which ends the agent for the record.
Every step is written to the recorder (``agent_steps``: the arguments' sha256, never the arguments)
and the state is checkpointed right after, so a resumed record continues at the next step. On the
last step the model is asked for a bare submission with structured output instead of tools; that
submission is still checked (one step past the budget), so a model that ran out of steps can hand in
what it found.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pipeline.agent import prompts
from pipeline.agent.client import ModelClient, ModelReply, ToolCall, request_chars
from pipeline.agent.errors import AgentError, BudgetExhausted, InvalidOutput
from pipeline.agent.settings import AgentSettings
from pipeline.agent.state import AgentState, Turn
from pipeline.agent.submission import Submission
from pipeline.agent.tools import ToolBox, compact_schema, tool_specs
from pipeline.detect.base import StepRecorder

log = logging.getLogger("chartsift.agent")


@dataclass(frozen=True)
class StepKey:
    """Who the steps belong to: the columns that key ``agent_steps`` and the checkpoint."""

    run_id: str
    document_id: str
    config_hash: str


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AgentLoop:
    def __init__(
        self,
        client: ModelClient,
        toolbox: ToolBox,
        settings: AgentSettings,
        recorder: StepRecorder | None,
        key: StepKey,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.toolbox = toolbox
        self.settings = settings
        self.budgets = settings.budgets
        self.recorder = recorder
        self.key = key
        self.clock = clock
        self.state = AgentState()
        self._started = clock()  # this session's start, and the wall time spent before it (a resume)
        self._base = 0.0

    def run(self, state: AgentState) -> AgentState:
        """Steps until the model's submission is done; raises an ``AgentError`` otherwise."""
        self.state = state
        self._started, self._base = self.clock(), state.elapsed_s
        budgets = self.budgets
        while not self.state.done:
            if self.state.invalid >= budgets.max_invalid:
                raise InvalidOutput(f"invalid output after {self.state.invalid} attempts")
            if self.state.step >= budgets.max_steps and not (self.state.turn.final and self.state.turn.pending):
                raise BudgetExhausted("step budget exhausted")
            if self._elapsed() >= budgets.max_seconds:
                raise BudgetExhausted("time budget exhausted")
            if self.state.turn.pending:
                self._tool_step()
            else:
                self._model_step()
        return self.state

    def _elapsed(self) -> float:
        return self._base + self.clock() - self._started

    # -- one step of each kind -----------------------------------------------------------------

    def _request(self, final: bool) -> tuple[dict[str, Any], AgentState]:
        """The request of the next model call, and the state as it will be once it is sent."""
        state, box = self.state, self.toolbox
        first_page = box.hint_pages[0] if not state.hint_pages_seen and box.hint_pages else None
        if first_page is not None:
            state = state.evolve(hint_pages_seen=(1,))  # seen once this request is sent
        user = prompts.summary(state, box.name, len(box.lines), len(box.lines.text), len(box.hint_pages), self.budgets, first_page)
        profile = self.client.profile
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": prompts.messages(state, user, profile),
            **profile.output_limit(self.settings.max_output_tokens),
        }
        if final:
            body["messages"][1]["content"] += "\nLast step: answer with the final submission as JSON, no tools."
            fmt = profile.response_format("submission", compact_schema(Submission))
            if fmt is not None:
                body["response_format"] = fmt
        else:
            body["tools"] = tool_specs(profile)
            choice = profile.tool_choice()
            if choice is not None:
                body["tool_choice"] = choice
        return body, state

    def _model_step(self) -> None:
        final = self.state.step + 1 >= self.budgets.max_steps
        body, sent = self._request(final)
        chars = request_chars(body)
        if self.state.chars_sent + chars > self.budgets.max_chars_sent:
            raise BudgetExhausted("character budget exhausted")
        started_at, t0 = datetime.now(timezone.utc), self.clock()
        deadline = time.monotonic() + max(0.0, self.budgets.max_seconds - self._elapsed())
        args_hash = sha256_text(json.dumps(body, sort_keys=True))
        try:
            reply = self.client.complete(body, deadline=deadline)
        except AgentError as exc:
            self.state = self.state.evolve(chars_sent=self.state.chars_sent + chars)
            self._record("model", args_hash, started_at, t0, chars, 0, None, exc.reason.removeprefix("agent: "))
            raise
        state = sent.evolve(
            model_calls=self.state.model_calls + 1,
            chars_sent=self.state.chars_sent + chars,
            chars_received=self.state.chars_received + reply.chars,
            feedback=(),
        )
        state, outcome = self._take_reply(state, reply, final)
        self.state = state
        retries = f";retries={reply.retries}" if reply.retries else ""
        self._record("model", args_hash, started_at, t0, chars, reply.chars, None, outcome + retries)

    def _take_reply(self, state: AgentState, reply: ModelReply, final: bool) -> tuple[AgentState, str]:
        """The reply's tool calls become the new turn; a JSON submission in the content (structured
        output, or a server that answers in text) becomes a submit call; anything else is invalid."""
        calls = reply.tool_calls if not final else ()
        if not calls and reply.content:
            content = _as_submission(reply.content, final)
            if content is not None:
                calls = (ToolCall(id=f"content-{state.step}", name="submit_encounters", arguments=content),)
        if not calls:
            problem = "reply with a tool call" if not final else "reply with the final submission as JSON"
            return state.evolve(turn=Turn(), invalid=state.invalid + 1, feedback=(problem,)), "invalid"
        limit = self.settings.paging.calls_per_turn
        feedback = (f"only the first {limit} tool calls of a turn are run",) if len(calls) > limit else ()
        state = state.with_calls(calls[:limit])
        if final:  # its submission is checked even though the step budget is then spent
            state = state.evolve(turn=state.turn.model_copy(update={"final": True}))
        return state.evolve(feedback=feedback), "ok"

    def _tool_step(self) -> None:
        call = self.state.turn.pending[0]
        started_at, t0 = datetime.now(timezone.utc), self.clock()
        outcome, state = self.toolbox.execute(call, self.state)
        state = state.with_result(outcome.text)
        if outcome.invalid and not state.turn.invalid:  # one count per turn: the model is asked again once
            state = state.evolve(invalid=state.invalid + 1, turn=state.turn.model_copy(update={"invalid": True}))
        self.state = state
        self._record(outcome.tool, sha256_text(call.arguments), started_at, t0, len(call.arguments), len(outcome.text), outcome.sandbox_exit, outcome.outcome)

    # -- the audit log and the checkpoint ------------------------------------------------------

    def _record(
        self, tool: str, args_hash: str | None, started_at: datetime, t0: float, chars_in: int, chars_out: int, exit_code: int | None, outcome: str
    ) -> None:
        duration_ms = (self.clock() - t0) * 1000
        step = self.state.step
        self.state = self.state.evolve(step=step + 1, elapsed_s=self._elapsed())
        record_step(
            self.recorder, self.key, self.state.to_dict(), step=step, tool=tool, arguments_sha256=args_hash, started_at=started_at,
            duration_ms=duration_ms, chars_in=chars_in, chars_out=chars_out, sandbox_exit=exit_code, outcome=outcome,
        )

    def finish(self, outcome: str) -> None:
        """The last step of a record: how it ended ("submitted" or the fallback reason)."""
        self._record("end", None, datetime.now(timezone.utc), self.clock(), 0, 0, None, outcome)


def record_step(recorder: StepRecorder | None, key: StepKey, state: dict[str, Any], **step: Any) -> None:
    """One step of either agent mode: logged by ids and counts, written to ``agent_steps`` (the columns
    ``step`` names besides the key's) and followed by the checkpoint of ``state``, so that a resumed
    record continues at the next step."""
    log.info("agent step: doc=%s step=%d tool=%s outcome=%s", key.document_id[:12], step["step"], step["tool"], step["outcome"])
    if recorder is None:
        return
    recorder.record_agent_step({"run_id": key.run_id, "document_id": key.document_id, "config_hash": key.config_hash, **step})
    recorder.save_agent_state(key.run_id, key.document_id, key.config_hash, state)


def _as_submission(content: str, final: bool) -> str | None:
    """``content`` as submit_encounters arguments when it is a JSON submission (done forced on the last step)."""
    try:
        data = json.loads(content.strip().removeprefix("```json").removesuffix("```"))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "encounters" not in data:
        return None
    if final:
        data["done"] = True
    return json.dumps(data)
