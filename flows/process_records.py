"""The ``process_records`` flow: plan a run, process each record in a task, finish the run.

Every decision lives in ``pipeline.runner``; this module only gives Prefect its units of work, their
retries and names. Task run names carry a hash of the input, never its path or text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import flows  # noqa: F401  (offline Prefect settings, before prefect is imported)
from prefect import flow, task

from pipeline.detect import Detector
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import PipelineConfig, RecordOutcome, RunPlan, RunSummary, finish_run, plan_run, run_record, start_run
from pipeline.store import Catalog, WriterLock


@dataclass(frozen=True)
class _ActiveRun:
    """What the tasks of one flow run share; tasks receive only plain, hashable parameters."""

    catalog: Catalog
    workspace: ManifestWorkspace
    plan: RunPlan
    detector: Detector


_ACTIVE: dict[str, _ActiveRun] = {}
RESULTS_DIR = ".prefect-results"  # persisted task results: record outcomes (paths, counts), never text


def _record_cache_key(_context: Any, parameters: dict[str, Any]) -> str:
    """A record's result is keyed by its content and the configuration: what exactly-once means here."""
    return f"record-{parameters['sha256']}-{parameters['config_hash']}"


@task(
    retries=2,
    retry_delay_seconds=[1, 4],
    cache_key_fn=_record_cache_key,
    persist_result=True,
)
def process_record_task(run_id: str, record: str, sha256: str, config_hash: str) -> RecordOutcome:
    """Processes one record. Completed records come back from Prefect's result cache; the catalog's
    completion markers stay the source of truth when no cached result is there."""
    active = _ACTIVE[run_id]
    return run_record(active.catalog, active.workspace, active.plan, active.detector, record)


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
    retry_quarantined: bool = False,
) -> dict[str, Any]:
    """Processes every record under ``paths`` into the catalog in ``out``; returns the run summary."""
    started = perf_counter()
    config = PipelineConfig(detector=detector, detector_params=detector_params or {})
    plan = plan_run(paths, Path(out), config)
    summary = RunSummary.for_plan(plan, Path(out))
    workspace = ManifestWorkspace(plan.manifest)
    instance = config.make_detector()
    run_id = plan.run.run_id
    results = Path(out).resolve() / RESULTS_DIR
    with WriterLock(Path(out), lock_timeout), Catalog(Path(out)) as catalog:
        start_run(catalog, plan)
        _ACTIVE[run_id] = _ActiveRun(catalog, workspace, plan, instance)
        try:
            records = workspace.records()
            for done, record in enumerate(records, start=1):
                sha256 = workspace.input(record).sha256
                task_run = process_record_task.with_options(
                    task_run_name=f"record-{sha256[:12]}", result_storage=results, refresh_cache=retry_quarantined
                )
                state = task_run(run_id, record, sha256, plan.run.config_hash, return_state=True)
                outcome = state.result()
                if state.name == "Cached":
                    # Prefect remembers this record; the catalog decides whether that memory still holds.
                    if catalog.is_complete(sha256, plan.run.config_hash):
                        outcome = RecordOutcome(record, "skipped")
                    elif outcome.status != "quarantined":
                        outcome = run_record(catalog, workspace, plan, instance, record)
                summary.add(outcome)
                if show_progress:
                    _progress(done, len(records), outcome, sha256, summary)
        finally:
            _ACTIVE.pop(run_id, None)
        finish_run(catalog, plan, summary)
    summary.seconds = perf_counter() - started
    return summary.as_dict()
