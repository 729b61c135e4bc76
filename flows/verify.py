"""The ``verify`` flow: the nightly check that stored rows are still true and detection is as good as it was.

The checks are ``pipeline.checks.check_catalog`` and ``gold_f1`` over the committed samples' gold; this
module only logs them, leaves a Markdown artifact and fails the flow run when one fails.
"""

from __future__ import annotations

from pathlib import Path

import flows  # noqa: F401  (offline Prefect settings, before prefect is imported)
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed, State

from pipeline.checks import CatalogCheck, check_catalog, gold_f1
from pipeline.store import CATALOG_NAME


@flow(name="verify", log_prints=False)
def verify(outs: list[str], gold: str = "data/samples/gold.jsonl", min_f1: float = 0.95, days: float = 2.0) -> State:
    """Checks the recent runs of each output folder and the detector's accuracy on the samples.

    Args:
        outs: Output folders to check; one with no catalog yet is skipped.
        gold: Gold labels (corpus format) whose records/ folder sits beside them.
        min_f1: Fail when boundary F1 within two lines on the gold falls below this.
        days: Check the runs started in this many past days.
    """
    logger = get_run_logger()
    checks: list[CatalogCheck] = []
    for out in outs:
        if not (Path(out) / CATALOG_NAME).exists():
            logger.warning("%s holds no catalog yet: nothing to check", out)
            continue
        checks.append(check_catalog(Path(out), days))
    f1 = gold_f1(Path(gold))
    failures = [f"{c.out_dir}: {c.evidence_mismatches} evidence spans differ from their text" for c in checks if c.evidence_mismatches]
    failures += [f"{c.out_dir}: run {r} counts differ from its rows" for c in checks for r in c.count_mismatches]
    if f1 < min_f1:
        failures.append(f"samples F1 {f1:.3f} is below {min_f1:.3f}")
    lines = ["# chartsift verify", "", f"Samples boundary F1 (within 2 lines): **{f1:.3f}** (floor {min_f1:.3f})", "",
             "| output | runs | evidence spans | mismatches | runs with wrong counts | inputs changed since |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| `{c.out_dir}` | {c.runs} | {c.evidence_checked} | {c.evidence_mismatches} | {len(c.count_mismatches)} | {c.changed_inputs} |" for c in checks]
    if failures:
        lines += ["", "## Failed", ""] + [f"- {f}" for f in failures]
    create_markdown_artifact(markdown="\n".join(lines), key="chartsift-verify", description="chartsift nightly verify")
    for c in checks:
        logger.info("%s: %d runs, %d evidence spans checked, %d mismatches, %d runs with wrong counts, %d inputs changed",
                    c.out_dir, c.runs, c.evidence_checked, c.evidence_mismatches, len(c.count_mismatches), c.changed_inputs)
    logger.info("samples F1 %.3f (floor %.3f)", f1, min_f1)
    if failures:
        for failure in failures:
            logger.error("%s", failure)
        return Failed(message="; ".join(failures))
    return Completed(message=f"{len(checks)} catalogs verified; samples F1 {f1:.3f}")
