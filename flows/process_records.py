"""The ``process_records`` flow: plan a run, process each record in a task, finish the run.

Every decision lives in ``pipeline.runner``; this module only gives Prefect its units of work, their
retries and names. Task run names carry a hash of the input, never its path or text.
"""

from __future__ import annotations

import sys
from pathlib import Path
from time import perf_counter
from typing import Any

import flows  # noqa: F401  (offline Prefect settings, before prefect is imported)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.detect import Detector
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import PipelineConfig, RecordOutcome, RunPlan, RunSummary, finish_run, plan_run, run_record, start_run
from pipeline.store import Catalog, WriterLock


@task(retries=2, retry_delay_seconds=[1, 4], cache_policy=NO_CACHE)
def process_record_task(catalog: Catalog, workspace: ManifestWorkspace, plan: RunPlan, detector: Detector, record: str) -> RecordOutcome:
    return run_record(catalog, workspace, plan, detector, record)


def _progress(done: int, total: int, outcome: RecordOutcome, sha256: str, summary: RunSummary) -> None:
    print(
        f"\r[{done:>{len(str(total))}}/{total}] {outcome.status:<11} {sha256[:12]}  "
        f"encounters so far {summary.encounters}, quarantined {summary.quarantined}",
        end="\n" if done == total or not sys.stderr.isatty() else "",
        file=sys.stderr,
        flush=True,
    )


@flow(name="process_records", log_prints=False)
def process_records(
    paths: list[str],
    out: str,
    detector: str = "rules",
    detector_params: dict[str, Any] | None = None,
    show_progress: bool = False,
    lock_timeout: float = 60.0,
) -> dict[str, Any]:
    """Processes every record under ``paths`` into the catalog in ``out``; returns the run summary."""
    started = perf_counter()
    config = PipelineConfig(detector=detector, detector_params=detector_params or {})
    plan = plan_run(paths, Path(out), config)
    summary = RunSummary.for_plan(plan, Path(out))
    workspace = ManifestWorkspace(plan.manifest)
    instance = config.make_detector()
    with WriterLock(Path(out), lock_timeout), Catalog(Path(out)) as catalog:
        start_run(catalog, plan)
        records = workspace.records()
        for done, record in enumerate(records, start=1):
            sha256 = workspace.input(record).sha256
            outcome = process_record_task.with_options(task_run_name=f"record-{sha256[:12]}")(catalog, workspace, plan, instance, record)
            summary.add(outcome)
            if show_progress:
                _progress(done, len(records), outcome, sha256, summary)
        finish_run(catalog, plan, summary)
    summary.seconds = perf_counter() - started
    return summary.as_dict()
