"""Throughput and peak memory of the offline pipeline (no Prefect): ingest -> chunk -> detect ->
extract -> store, over records produced by the synthetic generator or over a folder you name.

    python benchmarks/throughput.py                     # 12 generated hard records, a few MB
    python benchmarks/throughput.py --records-dir DIR   # e.g. a corpus's records/ folder

Prints MB/s per stage and the peak resident memory; nothing is asserted (figures go in notes).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pipeline.chunking import chunk_text
from pipeline.detect import DetectionInput, create
from pipeline.extract import extract_fields
from pipeline.ingest import decode
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import PipelineConfig, plan_run, run_record, start_run
from pipeline.store import Catalog
from pipeline.synth import generate_corpus
from pipeline.text import LineIndex


def stage_times(paths: list[Path]) -> dict[str, float]:
    detector = create("rules")
    spent: dict[str, float] = defaultdict(float)
    for path in paths:
        t = time.perf_counter()
        text = decode(path.read_bytes(), path.name, "text/plain").text
        spent["ingest"] += time.perf_counter() - t
        t = time.perf_counter()
        lines = LineIndex(text)
        chunk_text(text, lines=lines)
        spent["chunk"] += time.perf_counter() - t
        t = time.perf_counter()
        detection = detector.run(DetectionInput("bench", text, lines))
        starts = [b.start_char for b in detection.boundaries] + [len(text)]
        spent["detect"] += time.perf_counter() - t
        t = time.perf_counter()
        lines = lines.with_furniture(detection.furniture)
        for start, end in zip(starts, starts[1:]):
            extract_fields(text, lines, start, end)
        spent["extract"] += time.perf_counter() - t
    return spent


def end_to_end(folder: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        plan = plan_run([str(folder)], Path(out), PipelineConfig())
        workspace = ManifestWorkspace(plan.manifest)
        detector = plan.config.make_detector()
        t = time.perf_counter()
        with Catalog(Path(out)) as catalog:
            start_run(catalog, plan)
            for record in workspace.records():
                run_record(catalog, workspace, plan, detector, record)
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records-dir", type=Path)
    parser.add_argument("--records", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.records_dir
        if folder is None:
            generate_corpus(tmp, records=args.records, seed=1, variant="hard")
            folder = Path(tmp) / "records"
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".txt")
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        total = end_to_end(folder)  # first, while no per-line memo holds these records' lines
        spent = stage_times(paths)
    print(f"{len(paths)} records, {megabytes:.2f} MB")
    for stage, seconds in spent.items():
        print(f"  {stage:<8} {seconds:7.2f} s  {megabytes / seconds:8.2f} MB/s")
    print(f"  {'stored':<8} {total:7.2f} s  {megabytes / total:8.2f} MB/s end to end (ingest..store, one process)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
