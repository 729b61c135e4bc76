"""The tools the model may call, their JSON Schemas (from Pydantic models) and their execution.

``list_files``, ``read_lines`` and ``show_hints`` are answered from the stored text the harness holds;
``search`` and ``run_python`` run in the sandbox, over the record mounted read-only at
``/workspace/input/<name>`` (a regular expression can backtrack for ever, so it gets the sandbox's
wall-clock limit too); ``submit_encounters`` is checked by ``submission``. Every result is bounded in
size and scrubbed of the API key before it can reach a prompt. A refused or malformed call is an
invalid output: the model is told why and the count goes towards the fallback.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.agent.errors import ToolFailed
from pipeline.agent.profiles import ACT_TOOL, ServerProfile
from pipeline.agent.settings import ApiKey, Paging
from pipeline.agent.state import AgentState, Call, merge_ranges
from pipeline.agent.submission import Submission, check_submission
from pipeline.sandbox import ExecResult, Limits, Sandbox, SandboxError
from pipeline.text import LineIndex

MOUNT = "/workspace/input"
MAX_PATTERN = 300
MAX_CODE = 4_000
SNIPPET_LIMITS = Limits(timeout_s=10.0, memory_mb=512, max_procs=16, file_size_mb=16, tmp_mb=32, cpu_s=10)
PYTHON = "/usr/bin/python3"

log = logging.getLogger("chartsift.agent")

# Runs inside the sandbox: the pattern arrives on stdin, so it is never part of a command line; the
# file is argv[1], which the sandbox maps at every level.
SEARCH_SCRIPT = r"""
import json, re, sys
q = json.loads(sys.stdin.read())
rx = re.compile(q["pattern"], re.I if q["ignore_case"] else 0)
hits, total = [], 0
with open(sys.argv[1], encoding="utf-8", newline="\n") as f:
    for i, line in enumerate(f, 1):
        if i > q["end"]:
            break
        if i >= q["start"] and rx.search(line):
            total += 1
            if len(hits) < q["max_hits"]:
                hits.append([i, line.rstrip("\n")[: q["width"]]])
print(json.dumps({"hits": hits, "total": total}))
"""


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListFiles(_Args):
    """List the mounted files."""


class ReadLines(_Args):
    """Read lines start..end of the record (1-based, inclusive), plus optional more [start, end] ranges; pages are bounded."""

    start: int = Field(ge=1)
    end: int = Field(ge=1)
    more: list[list[int]] = Field(default_factory=list, max_length=40)
    file: str | None = None

    @field_validator("more")
    @classmethod
    def _pairs(cls, more: list[list[int]]) -> list[list[int]]:
        if any(len(pair) != 2 for pair in more):
            raise ValueError("each range is [start, end]")
        return more


class Search(_Args):
    """Regex search of the record; returns matching lines with their numbers (bounded)."""

    pattern: str = Field(max_length=MAX_PATTERN)
    start_line: int = Field(default=1, ge=1)
    end_line: int | None = None
    ignore_case: bool = True


class RunPython(_Args):
    """Run a short Python 3 snippet in a sandbox (no network), the record under /workspace/input; returns its output."""

    code: str = Field(max_length=MAX_CODE)


class ShowHints(_Args):
    """Show a page of rules hints."""

    page: int = Field(ge=1)


class SubmitEncounters(Submission):
    """Submit encounters found so far; done=true when finished."""


TOOL_MODELS: dict[str, type[BaseModel]] = {
    "list_files": ListFiles,
    "read_lines": ReadLines,
    "search": Search,
    "run_python": RunPython,
    "show_hints": ShowHints,
    "submit_encounters": SubmitEncounters,
}


def compact_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema, made short and portable: ``$ref`` inlined; titles, null defaults,
    ``additionalProperties`` and the docstrings of nested models dropped; ``anyOf [X, null]`` of an
    optional field folded into X (an optional field is simply not required). It is sent with every
    request, so every character counts; what it no longer says, the validation still enforces."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # a nested model or enum: its docstring is for us, not for the model
            return walk({k: v for k, v in defs[node["$ref"].rsplit("/", 1)[-1]].items() if k != "description"})
        variants = node.get("anyOf")
        if variants and len(variants) == 2 and {"type": "null"} in variants:
            kept = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            return walk({**next(v for v in variants if v != {"type": "null"}), **kept})
        return {
            k: (v if k == "properties" and not v else {n: walk(p) for n, p in v.items()} if k == "properties" else walk(v))
            for k, v in node.items()
            if k not in ("title", "additionalProperties") and not (k == "default" and v is None)
        }

    schema.pop("description", None)
    return walk(schema)


def tool_specs(profile: ServerProfile) -> list[dict[str, Any]]:
    """The ``tools`` of a request: one function per tool, or the single forced ``act`` function."""
    schemas = {name: profile.adapt_schema(compact_schema(model)) for name, model in TOOL_MODELS.items()}
    docs = {name: (model.__doc__ or "").strip() for name, model in TOOL_MODELS.items()}
    if profile.tool_mode == "single":
        variants = [
            {**schema, "properties": {"tool": {"const": name}, **schema.get("properties", {})}, "required": ["tool", *schema.get("required", [])]}
            for name, schema in schemas.items()
        ]
        description = "Call one tool: " + "; ".join(f"{name}: {doc}" for name, doc in docs.items())
        return [{"type": "function", "function": {"name": ACT_TOOL, "description": description, "parameters": {"anyOf": variants}}}]
    return [{"type": "function", "function": {"name": name, "description": docs[name], "parameters": schemas[name]}} for name in schemas]


@dataclass(frozen=True)
class ToolOutcome:
    """What one call produced: the text for the model and the audit fields of its step."""

    text: str
    outcome: str  # "ok" | "invalid" | "refused" | "error" | "timeout"
    sandbox_exit: int | None = None
    tool: str = "invalid"  # the tool run; "invalid" when the call named none

    @property
    def invalid(self) -> bool:
        return self.outcome in ("invalid", "refused")


class ToolBox:
    """Executes the model's calls for one record; returns the outcome and the next state."""

    def __init__(
        self,
        lines: LineIndex,
        name: str,
        staging: Path,
        sandbox: Sandbox,
        hint_pages: tuple[str, ...],
        paging: Paging,
        key: ApiKey | None,
    ) -> None:
        self.lines = lines
        self.name = name
        self.path = f"{MOUNT}/{name}"
        self.sandbox = sandbox
        self.hint_pages = hint_pages
        self.paging = paging
        self.key = key
        self.staging = staging
        self.input = staging / "input" / name
        self.input.parent.mkdir(parents=True, exist_ok=True)
        self.input.write_text(lines.text, encoding="utf-8", newline="\n")
        self._handlers: dict[str, Callable[[Any, AgentState], tuple[ToolOutcome, AgentState]]] = {
            "list_files": self._list_files,
            "read_lines": self._read_lines,
            "search": self._search,
            "run_python": self._run_python,
            "show_hints": self._show_hints,
            "submit_encounters": self._submit,
        }

    def execute(self, call: Call, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        name, raw = call.name, call.arguments
        if name not in TOOL_MODELS and name != ACT_TOOL:
            return ToolOutcome(f"error: unknown tool {name[:40]!r}; tools: {', '.join(TOOL_MODELS)}", "invalid"), state
        try:
            args = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            return ToolOutcome(f"error: arguments are not valid JSON ({exc.msg} at char {exc.pos})", "invalid", tool=name), state
        if not isinstance(args, dict):
            return ToolOutcome("error: arguments must be a JSON object", "invalid", tool=name), state
        if name == ACT_TOOL:
            name = str(args.pop("tool", ""))
        model = TOOL_MODELS.get(name)
        if model is None:
            return ToolOutcome(f"error: act names no known tool; tools: {', '.join(TOOL_MODELS)}", "invalid"), state
        try:
            parsed = model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False)[:5])
            return ToolOutcome(f"error: invalid arguments for {name}: {problems}", "invalid", tool=name), state
        outcome, state = self._handlers[name](parsed, state)
        return ToolOutcome(self._scrub(outcome.text), outcome.outcome, outcome.sandbox_exit, name), state

    def _scrub(self, text: str) -> str:
        return self.key.redact(text) if self.key else text

    def close(self) -> None:
        """Removes the staged copy of the record and every output folder: no patient text is left behind."""
        shutil.rmtree(self.staging, ignore_errors=True)

    # -- answered from the stored text ---------------------------------------------------------

    def _list_files(self, args: ListFiles, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        return ToolOutcome(f"{self.path}  {len(self.lines)} lines  {len(self.lines.text)} chars", "ok"), state

    def _refuse_file(self, file: str | None) -> ToolOutcome | None:
        if file in (None, "", self.name, self.path):
            return None
        return ToolOutcome(f"refused: only {self.path} is mounted; {file[:80]!r} is not readable", "refused")

    def _read_lines(self, args: ReadLines, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        refused = self._refuse_file(args.file)
        if refused:
            return refused, state
        n = len(self.lines)
        ranges = [(args.start, args.end), *args.more]
        bad = [f"{a}-{b}" for a, b in ranges if a < 1 or a > n or b < a]
        if bad:
            return ToolOutcome(f"error: lines {', '.join(bad[:5])} are not inside 1-{n}", "invalid"), state
        rows: list[str] = []
        size, budget_lines = 0, self.paging.page_lines
        read = state.pages_read
        for a, b in ranges:
            last = min(b, n, a + budget_lines - 1)
            if rows:
                rows.append("…")
            for i in range(a, last + 1):
                row = f"{i}|{self.lines.line(i - 1)}"
                if size + len(row) + 1 > self.paging.page_chars and size:
                    last = i - 1
                    break
                rows.append(row)
                size += len(row) + 1
            if last >= a:
                read = merge_ranges(read, (a, last))
                budget_lines -= last - a + 1
            if last < min(b, n) or budget_lines <= 0:
                rows.append(f"[page full at line {last}; read on from {last + 1}]")
                break
        return ToolOutcome("\n".join(rows), "ok"), state.evolve(pages_read=read)

    def _show_hints(self, args: ShowHints, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        total = len(self.hint_pages)
        if args.page > total:
            return ToolOutcome(f"error: there are {total} hint pages", "invalid"), state
        seen = tuple(sorted({*state.hint_pages_seen, args.page}))
        return ToolOutcome(f"hints page {args.page}/{total}:\n{self.hint_pages[args.page - 1]}", "ok"), state.evolve(hint_pages_seen=seen)

    def _submit(self, args: SubmitEncounters, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        checked = check_submission(args, state.encounters, self.lines)
        if checked.problems:
            return ToolOutcome("rejected, nothing kept: " + "; ".join(checked.problems), "invalid"), state
        questions = tuple(q[:200] for q in args.open_questions) or state.open_questions
        state = state.evolve(
            encounters=checked.encounters,
            dropped_evidence=state.dropped_evidence + checked.dropped,
            open_questions=questions,
            done=args.done,
        )
        dropped = f"; {checked.dropped} quotes not found in their encounter were dropped" if checked.dropped else ""
        text = f"kept {len(args.encounters)}; {len(checked.encounters)} encounters so far{dropped}" + ("; done" if args.done else "")
        return ToolOutcome(text, f"ok;dropped={checked.dropped}" if checked.dropped else "ok"), state

    # -- run in the sandbox --------------------------------------------------------------------

    def _sandboxed(self, argv: list[str], stdin: str, limits: Limits) -> ExecResult:
        """One command in a fresh sandbox with a fresh output folder, removed afterwards."""
        root = self.staging / "output"
        root.mkdir(parents=True, exist_ok=True)
        out = Path(tempfile.mkdtemp(dir=root))
        try:
            result = self.sandbox.run(argv, inputs={self.name: self.input}, output_dir=out, limits=limits, stdin=stdin.encode("utf-8"))
            if result.exit_code > 128 and not result.timed_out:
                # The sandbox was killed under the step (by a signal, from outside or at the CPU limit): the
                # harness holds the state, so the step runs once more in a fresh sandbox from the same inputs.
                log.warning("agent sandbox died (exit %d); the step runs again in a fresh sandbox", result.exit_code)
                shutil.rmtree(out, ignore_errors=True)
                out = Path(tempfile.mkdtemp(dir=root))
                result = self.sandbox.run(argv, inputs={self.name: self.input}, output_dir=out, limits=limits, stdin=stdin.encode("utf-8"))
            return result
        except SandboxError as exc:
            log.warning("agent tool could not run in the sandbox: %s", exc)
            raise ToolFailed(f"sandbox failed ({type(exc).__name__})") from None
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def _search(self, args: Search, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        n = len(self.lines)
        end = min(args.end_line or n, n)
        if args.start_line > end:
            return ToolOutcome(f"error: lines {args.start_line}-{end} are not inside 1-{n}", "invalid"), state
        query = {
            "pattern": args.pattern, "ignore_case": args.ignore_case, "start": args.start_line,
            "end": end, "max_hits": self.paging.search_hits, "width": 160,
        }
        seconds = self.paging.search_timeout_s
        limits = Limits(timeout_s=seconds, memory_mb=256, max_procs=16, file_size_mb=1, tmp_mb=8, cpu_s=max(1, int(seconds)))
        result = self._sandboxed([PYTHON, "-I", "-c", SEARCH_SCRIPT, self.path], json.dumps(query), limits)
        if result.timed_out:
            return ToolOutcome(f"error: the search was stopped after {seconds:g} s; use a simpler pattern", "timeout", result.exit_code), state
        try:
            found = json.loads(result.stdout.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            return ToolOutcome(f"error: the search failed: {last[0][:200]}", "invalid", result.exit_code), state
        rows = [f"{i}|{line}" for i, line in found["hits"]]
        more = found["total"] - len(rows)
        tail = f"\n[{more} more hits; narrow the range or the pattern]" if more > 0 else ""
        head = f"{found['total']} hits in lines {args.start_line}-{end}"
        state = state.evolve(searched=merge_ranges(state.searched, (args.start_line, end)))
        return ToolOutcome("\n".join([head, *rows]) + tail, "ok", result.exit_code), state

    def _run_python(self, args: RunPython, state: AgentState) -> tuple[ToolOutcome, AgentState]:
        result = self._sandboxed([PYTHON, "-I", "-"], args.code, SNIPPET_LIMITS)
        cap = self.paging.output_chars
        out = result.stdout.decode("utf-8", "replace")
        err = result.stderr.decode("utf-8", "replace")
        text = out[:cap] + (f"\n[output cut at {cap} chars]" if len(out) > cap else "")
        if err.strip():
            text += "\n[stderr] " + err[-min(1000, cap) :]
        status = "timeout" if result.timed_out else ("ok" if result.exit_code == 0 else "error")
        head = f"exit {result.exit_code}" + (" (timed out)" if result.timed_out else "")
        return ToolOutcome(f"{head}\n{text}".rstrip(), status, result.exit_code), state
