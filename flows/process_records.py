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
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, State

from pipeline.detect import Detector
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import (
    PipelineConfig,
    RecordOutcome,
    RunPlan,
    RunSummary,
    finish_run,
    plan_run,
    run_record,
    skip_record,
    start_run,
)
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


def _report(summary: RunSummary, plan: RunPlan) -> str:
    """The run as Markdown for its Prefect artifact: counts, and each quarantined input by name and reason."""
    rows = [
        ("records", summary.records), ("stored", summary.stored), ("already stored (skipped)", summary.skipped),
        ("quarantined", summary.quarantined), ("encounters", summary.encounters), ("seconds", f"{summary.seconds:.1f}"),
    ]
    lines = [f"# chartsift run `{summary.run_id}`", "", f"Output: `{summary.out_dir}`", "", "| | |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if summary.quarantine_messages:
        lines += ["", "## Quarantined", ""] + [f"- {m}" for m in summary.quarantine_messages]
    nothing = [*plan.missing, *plan.empty]
    if nothing:
        lines += ["", "## Paths with no records", ""] + [f"- `{p}`" for p in nothing]
    return "\n".join(lines)


@flow(name="process_records", log_prints=False)
def process_records(
    paths: list[str],
    out: str,
    detector: str = "rules",
    detector_params: dict[str, Any] | None = None,
    show_progress: bool = False,
    lock_timeout: float = 60.0,
    retry_quarantined: bool = False,
) -> State:
    """Processes every record under ``paths`` into the catalog in ``out``; returns the run summary.

    Args:
        paths: Record files, folders (walked for .txt, .text and .pdf) or glob patterns. A path that does
            not exist or holds no record is nothing to do: the run completes with 0 new records.
        out: Output folder: the analyst catalog, its Parquet and the writer's state.
        detector: Encounter detector: 'rules' (offline, the default) or 'agent' (an OpenAI-compatible model).
        detector_params: Detector options, e.g. {"threshold": 0.5} for rules or the model settings for agent.
        show_progress: Print one progress line per record to stderr.
        lock_timeout: Seconds to wait for another run writing the same output folder to finish.
        retry_quarantined: Process again inputs whose earlier result was a quarantine.
    """
    started = perf_counter()
    logger = get_run_logger()
    config = PipelineConfig(detector=detector, detector_params=detector_params or {})
    plan = plan_run(paths, Path(out), config, flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None)
    for path in plan.missing:
        logger.warning("path %s does not exist: nothing to do there", path)
    summary = RunSummary.for_plan(plan, Path(out))
    workspace = ManifestWorkspace(plan.manifest)
    instance = config.make_detector()
    run_id = plan.run.run_id
    results = Path(out).resolve() / RESULTS_DIR
    with WriterLock(Path(out), lock_timeout), Catalog(Path(out)) as catalog:
        for abandoned in start_run(catalog, plan):
            logger.warning("run %s had not finished when its process ended; marked failed", abandoned)
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
                    # Prefect remembers this content; the catalog decides what this run does with it, and every
                    # run writes its own rows (a sighting, or a quarantine row), whatever Prefect remembers.
                    if catalog.is_complete(sha256, plan.run.config_hash):
                        outcome = skip_record(catalog, workspace, plan, record)
                    else:
                        outcome = run_record(catalog, workspace, plan, instance, record)
                summary.add(outcome)
                catalog.publish_due(run_id)
                if show_progress:
                    _progress(done, len(records), outcome, sha256, summary)
        finally:
            _ACTIVE.pop(run_id, None)
        run = finish_run(catalog, plan, summary)
    summary.seconds = perf_counter() - started
    logger.info(
        "run %s: %d records, %d stored, %d already stored, %d quarantined, %d encounters, %.1f s",
        run_id, summary.records, summary.stored, summary.skipped, summary.quarantined, summary.encounters, summary.seconds,
    )
    for message in summary.quarantine_messages:
        logger.warning("quarantined: %s", message)
    create_markdown_artifact(markdown=_report(summary, plan), key="chartsift-run", description=f"chartsift run {run_id}")
    if run.status == "completed_with_quarantine":
        return Completed(data=summary.as_dict(), name="CompletedWithQuarantine", message=f"{summary.quarantined} inputs quarantined")
    return Completed(data=summary.as_dict(), message=f"{summary.stored} records stored, {summary.skipped} already stored")
