"""Characters the agent sends to the model per record, against a naive prompt holding the whole record.

    python benchmarks/agent_chars.py                               # /work/shared/corpora/dev, every record
    python benchmarks/agent_chars.py --corpus DIR --limit 10       # DIR holds records/ (and gold.jsonl)
    python benchmarks/agent_chars.py --mode explore                # the model pages through the record

The model is one of the test suite's scripted policies (``tests/openai_server.py``) behind a real HTTP
server on 127.0.0.1: ``RegionsReader`` for the default regions mode (questions about the rules'
uncertain candidates), ``Competent`` for ``--mode explore`` (whose tools run in the real sandbox). Both figures are the length of the
request JSON as sent (``pipeline.agent.client.request_chars``): every model call of the agent (system
prompt, state summary, tool schemas, the latest tool results) against one naive request (system
prompt, the whole record, the submission schema as structured output). The corpus is read in place,
never copied. Prints one row per record and the totals; the target is a ratio of at most 0.35.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.agent import AgentDetector  # noqa: E402
from pipeline.agent.client import request_chars  # noqa: E402
from pipeline.agent.prompts import SYSTEM  # noqa: E402
from pipeline.agent.submission import Submission  # noqa: E402
from pipeline.agent.tools import compact_schema  # noqa: E402
from pipeline.detect import DetectionInput  # noqa: E402
from pipeline.ingest import decode  # noqa: E402
from pipeline.text import LineIndex  # noqa: E402
from tests.openai_server import Competent, ModelServer, RegionsReader  # noqa: E402

DEFAULT_CORPUS = Path("/work/shared/corpora/dev")
TARGET = 0.35


def naive_chars(text: str, model: str) -> int:
    """One request that hands the model the whole record and asks for every encounter at once."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM.split(" You cannot see the record")[0]},
            {"role": "user", "content": "Find every encounter in this record; answer with the submission JSON "
             "(start_line and verbatim quotes for each encounter).\n\n" + text},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "submission", "schema": compact_schema(Submission)}},
    }
    return request_chars(body)


def boundary_hits(pred: list[int], gold: list[int]) -> tuple[int, int, int]:
    """(exact matches, predicted, gold) of encounter start offsets."""
    return len(set(pred) & set(gold)), len(pred), len(gold)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-benchmark")  # the scripted server on 127.0.0.1 takes any key
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="first N records only (0: all)")
    parser.add_argument("--accept-sandbox", default="full", choices=["full", "partial", "none"])
    parser.add_argument("--mode", default="regions", choices=["regions", "explore"], help="the agent mode (default regions)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    paths = sorted((args.corpus / "records").glob("*.txt"))[: args.limit or None]
    gold_file = args.corpus / "gold.jsonl"
    gold = {g["record"]: [e["start"] for e in g["encounters"]] for g in map(json.loads, gold_file.open())} if gold_file.is_file() else {}
    rows = []
    started = time.monotonic()
    with ModelServer(Competent() if args.mode == "explore" else RegionsReader()) as server:
        detector = AgentDetector(model="competent", mode=args.mode, base_url=server.url, server_profile="openai", accept_sandbox=args.accept_sandbox)
        for path in paths:
            data = path.read_bytes()
            text = decode(data, path.name, "text/plain").text
            first = len(server.exchanges)
            detection = detector.run(DetectionInput(hashlib.sha256(data).hexdigest(), text, LineIndex(text)))
            sent = sum(request_chars(e.body) for e in server.exchanges[first:])
            rules = [b.start_char for b in detector.rules.detect(DetectionInput("", text, LineIndex(text)))]
            rows.append({
                "record": path.name, "chars": len(text), "agent": sent, "naive": naive_chars(text, "competent"),
                "calls": len(server.exchanges) - first, "fallback": detection.fallback_reason,
                "agent_hits": boundary_hits([b.start_char for b in detection.boundaries], gold.get(path.name, [])),
                "rules_hits": boundary_hits(rules, gold.get(path.name, [])),
            })
            r = rows[-1]
            print(f"{r['record']:<22} {r['chars']:>9,} {r['naive']:>9,} {r['agent']:>9,} {r['agent'] / r['naive']:>6.3f} {r['calls']:>5}  {r['fallback'] or ''}", flush=True)
    ratios = [r["agent"] / r["naive"] for r in rows]
    total_agent, total_naive = sum(r["agent"] for r in rows), sum(r["naive"] for r in rows)
    print(f"\nrecords {len(rows)}, {time.monotonic() - started:.0f} s; fallbacks {sum(1 for r in rows if r['fallback'])}")
    print(f"total chars sent: agent {total_agent:,} / naive {total_naive:,} = {total_agent / total_naive:.3f} (target <= {TARGET})")
    print(f"per record ratio: median {statistics.median(ratios):.3f}, p90 {sorted(ratios)[int(0.9 * (len(ratios) - 1))]:.3f}, "
          f"max {max(ratios):.3f}; records over target: {sum(1 for x in ratios if x > TARGET)}")
    for label, small, large in (("< 20 KB", 0, 20_000), ("20-100 KB", 20_000, 100_000), (">= 100 KB", 100_000, 10**12)):
        band = [r for r in rows if small <= r["chars"] < large]
        if band:
            a, n = sum(r["agent"] for r in band), sum(r["naive"] for r in band)
            print(f"  {label:<10} {len(band):>3} records: {a:>11,} / {n:>11,} = {a / n:.3f}")
    if gold:
        for name in ("agent", "rules"):
            hit, pred, want = (sum(r[f"{name}_hits"][i] for r in rows) for i in range(3))
            p, rc = hit / max(pred, 1), hit / max(want, 1)
            print(f"exact boundary P/R/F1 {name:<5}: {p:.3f} / {rc:.3f} / {2 * p * rc / max(p + rc, 1e-9):.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
