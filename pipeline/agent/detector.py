"""The ``agent`` detector: a model settles what the rules are unsure of (``regions``, the default) or
pages through the record with sandboxed tools (``explore``); rules as the fallback.

In ``regions`` mode the harness sends the lines around the rules' uncertain candidates as data and runs
no tool, so no sandbox is opened and the rows' ``sandbox_level`` is empty. In ``explore`` mode the
harness (this process) holds the key, talks to the model and owns the state; the sandbox only computes. The sandbox is opened once per detector at the accepted level or the record is quarantined
(never a silent downgrade); every row records the level its tools ran under. Whenever the agent
cannot finish a record (model unreachable, invalid output, a budget spent) the record gets the rules
detector's boundaries with ``fallback_reason`` set, so no model answer is ever stored unvalidated.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.agent.client import ModelClient
from pipeline.agent.errors import AgentError, ModelUnreachable
from pipeline.agent.hints import make_hints, paginate
from pipeline.agent.loop import AgentLoop, StepKey
from pipeline.agent.regions import RegionsRun
from pipeline.agent.settings import ApiKey, load_api_key, resolve_settings
from pipeline.agent.state import AgentState
from pipeline.agent.submission import assemble
from pipeline.agent.tools import ToolBox
from pipeline.detect.base import Detection, DetectionInput, Detector, EncounterBoundary, register
from pipeline.detect.rules import RulesDetector
from pipeline.errors import ChartsiftError, DetectionError
from pipeline.sandbox import Sandbox, SandboxLevel, open_sandbox

log = logging.getLogger("chartsift.agent")

MOUNTED_SUFFIXES = (".txt", ".text")


def mounted_name(record: str | None, document_id: str) -> str:
    """The file name the model sees: the record's name, as text (what every offset points into)."""
    name = Path(record).name if record else f"{document_id[:16]}.txt"
    return name if name.lower().endswith(MOUNTED_SUFFIXES) else f"{name}.txt"


@register
class AgentDetector(Detector):
    name = "agent"
    version = "1.0"

    def __init__(self, **params: Any) -> None:
        self.settings = resolve_settings(params)
        self.rules = RulesDetector()
        self._sandbox: Sandbox | ChartsiftError | None = None
        self._client: ModelClient | None = None
        self._key: ApiKey | None = None

    def config(self) -> dict[str, Any]:
        return self.settings.hashed()

    def detect(self, doc: DetectionInput) -> list[EncounterBoundary]:
        return self.run(doc).boundaries

    # -- resources opened once per detector ------------------------------------------------------

    def sandbox(self, record: str) -> Sandbox:
        """The sandbox at the accepted level; a record is quarantined (not downgraded) when it is unavailable."""
        if self._sandbox is None:
            try:
                self._sandbox = open_sandbox(accept=SandboxLevel(self.settings.accept_sandbox))
                log.info("agent sandbox level: %s", self._sandbox.level.value)
            except ChartsiftError as exc:
                self._sandbox = exc
        if isinstance(self._sandbox, ChartsiftError):
            raise DetectionError(record, f"sandbox unavailable at level {self.settings.accept_sandbox}: {self._sandbox}")
        return self._sandbox

    def client(self, record: str) -> ModelClient:
        if self._client is None:
            self._key = load_api_key(self.settings.config_file)
            client = ModelClient(self.settings, self._key)
            if client.profile.needs_key and self._key is None:
                raise DetectionError(record, f"the {client.profile.name} server profile needs an API key (OPENAI_API_KEY)")
            self._client = client
        return self._client

    # -- one record ------------------------------------------------------------------------------

    def run(self, doc: DetectionInput) -> Detection:
        if self.settings.mode == "regions":
            return self._run_regions(doc)
        context = doc.context
        record = context.record if context else doc.document_id[:16]
        rules = self.rules.run(doc)
        client = self.client(record)
        sandbox = self.sandbox(record)
        level = sandbox.level.value
        key = StepKey(context.run_id if context else "", doc.document_id, context.config_hash if context else "")
        recorder = context.recorder if context else None
        staging = context.scratch_dir if context and context.scratch_dir else Path(tempfile.mkdtemp(prefix="chartsift-agent-"))
        pages = paginate(make_hints(rules.boundaries, doc.lines), self.settings.paging.hint_page_chars)
        name = mounted_name(context.record if context else None, doc.document_id)
        toolbox = ToolBox(doc.lines, name, staging, sandbox, pages, self.settings.paging, self._key)
        loop = AgentLoop(client, toolbox, self.settings, recorder, key)

        def attempt() -> Detection:
            resumed = AgentState.from_dict(recorder.load_agent_state(doc.document_id, key.config_hash)) if recorder else None
            if resumed:
                log.info("agent resumes document %s at step %d", doc.document_id[:12], resumed.step)
            state = loop.run(resumed or AgentState())
            boundaries, dropped = assemble(state.encounters, doc.lines)
            log.info("agent document %s: %d encounters, %d steps, %d quotes dropped", doc.document_id[:12], len(boundaries), loop.state.step, dropped)
            return Detection(boundaries, level, None, dropped, furniture=rules.furniture)

        def fallback(reason: str) -> Detection:
            return Detection(rules.boundaries, level, reason, loop.state.dropped_evidence, furniture=rules.furniture)

        try:
            return self._settle(doc, record, attempt, loop.finish, fallback)
        finally:
            toolbox.close()  # removes the staged copy of the record

    @staticmethod
    def _settle(doc: DetectionInput, record: str, attempt: Callable[[], Detection], finish: Callable[[str], None], fallback: Callable[[str], Detection]) -> Detection:
        """One record's attempt, ended in the step log either way. An outage is not the record's fault:
        it is quarantined with its progress checkpointed, so that `--retry-quarantined` resumes it once
        the endpoint is back; any other agent failure stores the rules result with the reason."""
        try:
            detection = attempt()
        except ModelUnreachable as exc:
            finish(exc.reason)
            log.warning("agent quarantines document %s: %s", doc.document_id[:12], exc.reason)
            raise DetectionError(record, f"{exc.reason}; progress is checkpointed, retry with --retry-quarantined") from None
        except AgentError as exc:
            finish(exc.reason)
            log.warning("agent fell back to rules for document %s: %s", doc.document_id[:12], exc.reason)
            return fallback(exc.reason)
        finish("submitted")
        return detection

    def _run_regions(self, doc: DetectionInput) -> Detection:
        """The rules' boundaries with their uncertain candidates settled by the model (see
        pipeline.agent.regions); a record with none costs no call."""
        context = doc.context
        record = context.record if context else doc.document_id[:16]
        rules = self.rules.run(doc)
        key = StepKey(context.run_id if context else "", doc.document_id, context.config_hash if context else "")
        recorder = context.recorder if context else None
        asking = RegionsRun(self.client(record), self.settings, recorder, key)
        name = mounted_name(context.record if context else None, doc.document_id)

        def attempt() -> Detection:
            resumed = recorder.load_agent_state(doc.document_id, key.config_hash) if recorder else None
            boundaries = asking.run(rules, doc.lines, name, resumed)
            return Detection(boundaries, None, None, 0, rules.candidates, rules.review_reasons, rules.furniture)

        def fallback(reason: str) -> Detection:
            return Detection(rules.boundaries, None, reason, 0, rules.candidates, rules.review_reasons, rules.furniture)

        return self._settle(doc, record, attempt, asking.finish, fallback)
