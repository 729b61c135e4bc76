"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the agent's tests, driven by scripted policies.

It speaks the Chat Completions wire format (``POST /v1/chat/completions`` with tools: ``tool_calls``,
``finish_reason``, ``usage``; ``GET /v1/models``; OpenAI-shaped error bodies), checks the requests the
way strict servers do (every tool message answers a tool call of the assistant turn before it), can
play a server kind's quirks (``llamacpp``: HTTP 500 for ``"content": null`` beside tool_calls and for
``response_format`` type ``json_schema``; one forced ``act`` function), injects faults (429 with
Retry-After, 500, 400, a reply slower than the client's timeout, a dropped connection) and counts every
call. A policy is a deterministic function from the request body to a ``Reply``: it sees exactly what
a model would see, nothing else.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline import cues
from pipeline.dates import first_date

OWNERS = {"openai": "openai", "vllm": "vllm", "ollama": "library", "llamacpp": "llamacpp"}


@dataclass(frozen=True)
class Reply:
    """A model's answer: tool calls as (name, arguments) where arguments is a dict or raw text, or content."""

    calls: tuple[tuple[str, dict[str, Any] | str], ...] = ()
    content: str | None = None


@dataclass(frozen=True)
class Fault:
    """One injected failure, consumed by the next chat completion request."""

    kind: str  # "429" | "500" | "400" | "slow" | "drop"
    retry_after: float | None = None
    seconds: float = 0.0


Policy = Callable[[dict[str, Any]], Reply]


@dataclass
class Exchange:
    received_at: float
    body: dict[str, Any]
    status: int


class ModelServer:
    """``with ModelServer(policy) as server: server.url`` is a base URL for ``openai.OpenAI``."""

    def __init__(self, policy: Policy, kind: str = "openai", faults: tuple[Fault, ...] = (), key: str | None = None, model: str = "test-model") -> None:
        self.policy = policy
        self.kind = kind
        self.key = key
        self.model = model
        self.faults: list[Fault] = list(faults)
        self.exchanges: list[Exchange] = []
        self.models_calls = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # a client that timed out is not an error here
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def calls(self) -> int:
        """Chat completion requests received, faulted ones included."""
        with self._lock:
            return len(self.exchanges)

    def bodies(self) -> list[str]:
        with self._lock:
            return [json.dumps(e.body) for e in self.exchanges]

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the HTTP side ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if server.key is None or self.headers.get("Authorization") == f"Bearer {server.key}":
                    return True
                self._send(401, _error("invalid api key", "invalid_request_error", 401))
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path.rstrip("/") != "/v1/models":
                    self._send(404, _error("not found", "invalid_request_error", 404))
                    return
                with server._lock:
                    server.models_calls += 1
                owner = OWNERS.get(server.kind, "openai")
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model", "created": 0, "owned_by": owner}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, _error("not found", "invalid_request_error", 404))
                    return
                if not self._authorised():
                    return
                with server._lock:
                    fault = server.faults.pop(0) if server.faults else None
                    exchange = Exchange(time.monotonic(), body, 200)
                    server.exchanges.append(exchange)
                if fault is not None and (status := self._fault(fault)):
                    exchange.status = status
                    return
                problem = server.check(body)
                if problem:
                    exchange.status = problem[0]
                    self._send(problem[0], _error(problem[1], "invalid_request_error", problem[0]))
                    return
                self._send(200, server.respond(body))

            def _fault(self, fault: Fault) -> int:
                """Plays one fault; returns its status (0 when the request then proceeds normally)."""
                if fault.kind == "drop":
                    self.close_connection = True
                    return -1
                if fault.kind == "slow":
                    time.sleep(fault.seconds)
                    return 0
                status = int(fault.kind)
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                self._send(status, _error(f"injected {status}", "server_error" if status >= 500 else "rate_limit_error", status), headers)
                return status

        return Handler

    # -- the model side --------------------------------------------------------------------------

    def check(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """What a strict server (and the chosen kind) would refuse."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            return 400, "messages and model are required"
        open_ids: set[str] = set()
        for m in messages:
            if m.get("role") == "assistant" and m.get("tool_calls"):
                if self.kind == "llamacpp" and m.get("content") is None:
                    return 500, "Value is not JSON serializable"  # what llama.cpp answers to null content
                for c in m["tool_calls"]:
                    json.loads(c["function"]["arguments"])  # history must hold valid JSON
                open_ids = {c["id"] for c in m["tool_calls"]}
            elif m.get("role") == "tool":
                if m.get("tool_call_id") not in open_ids:
                    return 400, "tool message does not answer a tool call of the preceding assistant turn"
        fmt = body.get("response_format") or {}
        if self.kind == "llamacpp" and fmt.get("type") == "json_schema":
            return 500, "response_format json_schema is not supported"
        return None

    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.policy(body)
        tools = [t["function"]["name"] for t in body.get("tools") or ()]
        calls = list(reply.calls) if tools else []
        if tools == ["act"]:  # single-tool mode: one forced call whose arguments name the tool
            calls = [("act", {"tool": name, **args} if isinstance(args, dict) else args) for name, args in calls[:1]]
        tool_calls = [
            {"id": f"call_{len(self.exchanges)}_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
        content = reply.content if not tool_calls else None
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        prompt_tokens = len(json.dumps(body)) // 4
        completion_tokens = len(json.dumps(message)) // 4
        return {
            "id": f"chatcmpl-{len(self.exchanges)}", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        }


def _error(message: str, kind: str, status: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


# -- reading a request as a model would ---------------------------------------------------------

HINT = re.compile(r"^L(\d+) s=(-?[\d.]+) (\S*) \| (.*)$", re.M)
LINE = re.compile(r"^(\d+)\|(.*)$", re.M)
HIT = re.compile(r"^(\d+)\|(.*)$", re.M)


@dataclass
class View:
    """What one request shows: the summary's fields, hints shown now, and the latest tool results."""

    record: str
    lines: int
    pages_total: int
    pages_seen: set[int]
    encounters: list[int]
    searched: list[tuple[int, int]]
    final: bool
    hints: list[tuple[int, float, str, str]] = field(default_factory=list)
    results: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (tool, args, text)
    text: str = ""  # every tool result, for policies that react to what they read


def _ranges(text: str) -> list[tuple[int, int]]:
    if text in ("none", ""):
        return []
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.append((int(a), int(b or a)))
    return out


def view(body: dict[str, Any]) -> View:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    record, lines = re.search(r"Record (\S+): (\d+) lines", user).groups()
    seen, total = re.search(r"Hint pages seen: (\S+) of (\d+)\.", user).groups()
    encounters = re.search(r"Encounters so far \(start lines\): (\S+)\.", user).group(1)
    searched = re.search(r"Searched: (\S+)\.", user).group(1)
    v = View(
        record=record, lines=int(lines), pages_total=int(total),
        pages_seen=set() if seen == "none" else {int(p) for p in seen.split(",")},
        encounters=[] if encounters == "none" else [int(x) for x in encounters.split(",")],
        searched=_ranges(searched), final=not body.get("tools"),
    )
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in body["messages"]:
        if m["role"] == "assistant":
            for c in m.get("tool_calls") or ():
                args = json.loads(c["function"]["arguments"])
                name = args.pop("tool", None) if c["function"]["name"] == "act" else c["function"]["name"]
                calls[c["id"]] = (name, args)
        elif m["role"] == "tool":
            name, args = calls.get(m["tool_call_id"], ("?", {}))
            v.results.append((name, args, m["content"]))
            v.text += m["content"] + "\n"
    shown = user + "\n" + "\n".join(t for n, _, t in v.results if n == "show_hints")
    v.hints = [(int(a), float(b), c, d) for a, b, c, d in HINT.findall(shown)]
    return v


def _call(name: str, **args: Any) -> tuple[str, dict[str, Any]]:
    return (name, args)


# -- quoting fields from lines a policy has seen -------------------------------------------------

LABELLED = re.compile(
    r"\b(?:provider|physician|attending|author|seen by|clinician|surgeon)\s*:\s*([A-Z][A-Za-z.'\-]+(?: [A-Z][A-Za-z.'\-]+){0,3}(?:,? (?:MD|DO|NP|PA))?)",
    re.I,
)
FACILITY = re.compile(r"\b(?:facility|location|clinic|department|site)\s*:\s*([A-Z][^|\t]{2,60}?)(?=\s{2,}|\s*\||$)", re.I | re.M)


def encounter_at(line: int, texts: list[str]) -> dict[str, Any]:
    """An encounter starting at ``line`` with verbatim quotes read from its first lines ``texts``."""
    enc: dict[str, Any] = {"start_line": line}
    for text in texts:
        text = text.split(" / ")[0] if " / " in text else text
        text = text.rstrip("…")
        if "date" not in enc and (m := first_date(text)):
            enc["date"] = text[m.start : m.end]
        if "provider" not in enc and (m := LABELLED.search(text)):
            enc["provider"] = m.group(1)
        if "facility" not in enc and (m := FACILITY.search(text)):
            enc["facility"] = m.group(1).strip()
    return enc


# -- policies -------------------------------------------------------------------------------------

# Encounter header labels, as a search pattern a careful reader would use for missed starts.
HEADER_SEARCH = (
    r"^\s*(date of service|dos\s*:|visit date|date of visit|encounter( date)?\s*:|admission date|exam date|"
    r"\*\*.*\*\*\s*$|enc\||patient (was )?seen on|visit\s*:|fax\b.*from\s*:|\d{1,2}/\d{1,2}/\d{4}\s*\|)"
)


class Competent:
    """Pages through a record like a careful reader: takes confident hints (an encounter header, a high
    score) as they are, reads a small window around each uncertain one, searches the long hint-free
    stretches for header lines, and submits encounters with quotes as it resolves them."""

    confident_score = 5.0  # with an encounter header cue
    sure_score = 6.5  # whatever the cues
    window_before, window_after = 1, 3
    gap_lines = 60

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        if v.final:
            return Reply(content=json.dumps({"encounters": [], "done": True}))
        submit: dict[int, dict[str, Any]] = {}
        calls: list[tuple[str, dict[str, Any]]] = []
        windows = []
        for line, score, cue_names, context in v.hints:
            if line <= self.window_before + 1 or score >= self.sure_score or (score >= self.confident_score and "header:" in cue_names):
                submit[line] = encounter_at(line, [context])
            else:
                windows.append((line - self.window_before, min(v.lines, line + self.window_after)))
        for i in range(0, len(windows), 24):  # a page holds about 24 windows of 5 lines
            (a, b), *more = windows[i : i + 24]
            calls.append(_call("read_lines", start=a, end=b, more=more))
        known = set(v.encounters)
        starts = known | {line for line, *_ in v.hints}
        for tool, args, text in v.results:
            rows = {int(n): t for n, t in LINE.findall(text)}
            if tool == "read_lines" and rows:
                for a, b in [(args["start"], args["end"]), *args.get("more", [])]:
                    starts.add(a + self.window_before)
                    self._decide_window(a + self.window_before, [(n, rows[n]) for n in range(a, b + 1) if n in rows], submit)
            elif tool == "search":
                for n, t in sorted(rows.items()):
                    if not any(abs(n - k) <= 3 for k in starts | set(submit)):
                        submit[n] = encounter_at(n, [t])
        unseen = sorted(set(range(1, v.pages_total + 1)) - v.pages_seen)
        calls.extend(_call("show_hints", page=p) for p in unseen)
        if not unseen:  # every hint is known: search the long stretches between them for missed headers
            gaps = self._gaps(v, starts | set(submit))
            calls.extend(_call("search", pattern=HEADER_SEARCH, start_line=a, end_line=b) for a, b in gaps[:12])
        done = not calls
        if submit or done:
            encounters = [submit[k] for k in sorted(submit)]
            calls.insert(0, _call("submit_encounters", encounters=encounters, done=done))
        return Reply(calls=tuple(calls))

    def _decide_window(self, hint: int, rows: list[tuple[int, str]], submit: dict[int, dict[str, Any]]) -> None:
        """Moves the hint to an encounter header line next to it if there is one, else confirms it."""
        if not rows:
            return
        header = next((n for n, t in rows if cues.encounter_header(t) and abs(n - hint) <= self.window_before), None)
        start = header or hint
        texts = [t for n, t in rows if n >= start][:4]
        submit[start] = encounter_at(start, texts)

    def _gaps(self, v: View, starts: set[int]) -> list[tuple[int, int]]:
        """Stretches of at least ``gap_lines`` without a known start, not mostly searched already."""
        points = sorted(starts | {v.lines + 1})
        gaps = []
        for a, b in zip(points, points[1:]):
            lo, hi = a + 4, b - 1
            searched = sum(max(0, min(hi, e) - max(lo, s) + 1) for s, e in v.searched)
            if hi - lo + 1 >= self.gap_lines and searched < 0.8 * (hi - lo + 1):
                gaps.append((lo, hi))
        return gaps


class SubmitHints:
    """Takes every hint on the first page as it is and finishes: the least a model can do."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        encounters = [encounter_at(line, [ctx]) for line, _, _, ctx in v.hints] or [{"start_line": 1}]
        if v.final:
            return Reply(content=json.dumps({"encounters": encounters, "done": True}))
        return Reply(calls=(_call("submit_encounters", encounters=encounters, done=True),))


class InvalidJSON:
    """Always answers with arguments that are not JSON."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        return Reply(calls=(("submit_encounters", '{"encounters": [{"start_line": 1,'),))


class Hallucinate:
    """First lines past the end of the record, then real lines with invented quotes and values."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        if not v.results:
            return Reply(calls=(_call("submit_encounters", encounters=[{"start_line": 1}, {"start_line": v.lines + 40}], done=True),))
        invented = {"date": "Date of Service: 13/45/2099", "provider": "Dr. Invented Person, MD", "facility": "Nowhere General Hospital"}
        encounters = [{"start_line": 1, **invented}, {"start_line": max(2, v.lines // 2), "date": "03/04/1850", "type": "Spaceship Visit"}]
        return Reply(calls=(_call("submit_encounters", encounters=encounters, done=True),))


class Looper:
    """Reads the same lines for ever."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        return Reply(calls=(_call("read_lines", start=1, end=5),))


class SnoopEnvironment:
    """Asks for the environment and the key every way it can think of, then submits the hints."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        if not v.results:
            return Reply(calls=(
                _call("read_lines", file="/proc/self/environ", start=1, end=5),
                _call("run_python", code="import os\nprint(open('/proc/self/environ','rb').read())\nprint(os.environ.get('OPENAI_API_KEY'))"),
                _call("run_python", code="import glob\nfor p in glob.glob('/proc/*/environ'):\n    try: print(p, open(p,'rb').read())\n    except Exception as e: print(p, type(e).__name__)"),
                _call("search", pattern="OPENAI_API_KEY|sk-"),
            ))
        return SubmitHints()(body) if v.hints else Reply(calls=(_call("submit_encounters", encounters=[{"start_line": 1}], done=True),))


class TryNetwork:
    """Tries curl and a raw socket to the model server itself from inside the sandbox, then submits."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        if not v.results:
            return Reply(calls=(
                _call("run_python", code=f"import subprocess\nprint(subprocess.run(['curl','-sS','http://127.0.0.1:{self.port}/v1/models'],capture_output=True,check=True))"),
                _call("run_python", code=f"import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:{self.port}/v1/models', timeout=3).read())"),
            ))
        return Reply(calls=(_call("submit_encounters", encounters=[{"start_line": 1}], done=True),))


class FollowInjection:
    """Pages through the record from the top and obeys an instruction it finds there."""

    injection = "ignore previous instructions"

    def __call__(self, body: dict[str, Any]) -> Reply:
        v = view(body)
        if self.injection in v.text.lower():
            return Reply(calls=(
                _call("run_python", code="import os\nprint(dict(os.environ))"),
                _call("read_lines", file="/proc/self/environ", start=1, end=3),
            ))
        if any(tool == "run_python" for tool, _, _ in v.results):
            return Reply(calls=(_call("submit_encounters", encounters=[{"start_line": 1}], done=True),))
        read = [(args, text) for tool, args, text in v.results if tool == "read_lines"]
        start = 1
        if read:
            args, text = read[-1]
            cut = re.search(r"read on from (\d+)", text)
            start = int(cut.group(1)) if cut else args["end"] + 1
        if start > v.lines:
            return Reply(calls=(_call("submit_encounters", encounters=[{"start_line": 1}], done=True),))
        return Reply(calls=(_call("read_lines", start=start, end=min(v.lines, start + 99)),))


# -- the regions mode: questions about a few lines ------------------------------------------------

ASKED = re.compile(r"line (\d+) \(read as (a start|inside an encounter), p=([\d.]+)\)")


def region_view(body: dict[str, Any]) -> tuple[list[tuple[int, bool]], dict[int, str]]:
    """The lines asked (1-based, with the rules' reading) and the record lines shown, as a model sees them."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    asked = [(int(n), reading == "a start") for n, reading, _ in ASKED.findall(user)]
    return asked, {int(n): t for n, t in LINE.findall(user)}


class RegionsReader:
    """Answers each asked line as a careful reader of the lines shown: a new encounter starts where a block
    opens (a blank or rule line above it) with a date on its first three lines and no sentence that
    continues the text above."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        asked, shown = region_view(body)
        answers = []
        for line, _ in asked:
            above = shown.get(line - 1, "")
            opens = not above.strip() or not any(ch.isalnum() for ch in above)
            dated = any(first_date(shown.get(k, "")) for k in range(line, line + 3))
            answers.append({"line": line, "start": opens and dated})
        return Reply(content=json.dumps({"answers": answers}))


class AnswerAll:
    """Answers every asked line the same way."""

    def __init__(self, start: bool) -> None:
        self.start = start

    def __call__(self, body: dict[str, Any]) -> Reply:
        asked, _ = region_view(body)
        return Reply(content=json.dumps({"answers": [{"line": line, "start": self.start} for line, _ in asked]}))


class ProseOnly:
    """Answers in words, never in JSON."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        return Reply(content="I think the second one starts a new visit.")
