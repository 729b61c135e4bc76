"""Training the boundary scorer on generated records (``chartsift train``).

The recipe is data (records, seed, family groups left out, model parameters) and is written into the
scorer's card, so a scorer can be rebuilt bit for bit and its hash names it in every run's configuration.
Records are generated afresh, never taken from a corpus that scores us. Every candidate of the rules'
trace is labelled by whether a gold encounter starts on its line; the model is fitted once per
calibration fold (folds follow the generator's family groups, so each fold's predictions come from a
model that never saw those families) and once on everything; the isotonic map from the out-of-fold
predictions to the labels is the calibration.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.detect.base import DetectionInput
from pipeline.detect.features import FEATURES, candidate_matrix
from pipeline.detect.rules import RulesDetector, record_layout
from pipeline.detect.scorer import BoundaryScorer, ScorerCard
from pipeline.evaluation import expected_calibration_error
from pipeline.text import LineIndex

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that decides a scorer: the generated records and the model's parameters."""

    records: int = 240
    seed: int = 20261201
    variant: str = "mixed"
    exclude_groups: tuple[str, ...] = ()
    folds: int = 4
    max_iter: int = 150
    learning_rate: float = 0.12
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0


@dataclass
class LabelledRecord:
    """The candidates of one record: feature rows, labels (1 = a gold encounter starts there) and how
    many gold starts no candidate reached."""

    record: str
    group: str
    rows: np.ndarray
    labels: np.ndarray
    unreachable: int
    gold: int
    extras: dict[str, Any] = field(default_factory=dict)


def label_record(text: str, encounters: list[dict], record: str, group: str) -> LabelledRecord:
    lines = LineIndex(text)
    doc = DetectionInput(record, text, lines)
    lay = record_layout(doc)
    decisions = _trace_detector().trace(doc, lay)
    gold = {lines.line_of(e["start"]) for e in encounters[1:]} - {0}
    rows = candidate_matrix(lay, decisions) if decisions else np.zeros((0, len(FEATURES)), dtype=np.float32)
    labels = np.array([d.cues.line in gold for d in decisions], dtype=np.int8)
    if len(labels):
        labels[0] = 0  # the record start is no boundary to learn
    reached = {d.cues.line for d in decisions}
    return LabelledRecord(record, group, rows, labels, len(gold - reached), len(gold))


_TRACER: RulesDetector | None = None


def _trace_detector() -> RulesDetector:
    global _TRACER
    if _TRACER is None:
        _TRACER = RulesDetector(scorer=None)
    return _TRACER


def _label_file(args: tuple[str, dict]) -> LabelledRecord:
    path, gold = args
    text = Path(path).read_text(encoding="utf-8")
    group = str(gold.get("group", gold.get("family", "")))
    return label_record(text, gold["encounters"], gold["record"], group)


def label_corpus(records_dir: Path, gold: list[dict], jobs: int = 2) -> list[LabelledRecord]:
    """Labelled candidates of every gold record in ``records_dir`` (in ``jobs`` processes)."""
    work = [(str(records_dir / g["record"]), g) for g in gold]
    if jobs <= 1:
        return [_label_file(w) for w in work]
    with get_context("spawn").Pool(jobs) as pool:
        return pool.map(_label_file, work, chunksize=1)


def generate(recipe: TrainingRecipe, folder: Path) -> list[dict]:
    """The recipe's records, written to ``folder`` (records/ and gold.jsonl)."""
    from pipeline.synth import generate_corpus, select_families

    families = select_families(exclude_groups=[int(g) for g in recipe.exclude_groups])
    return generate_corpus(folder, records=recipe.records, seed=recipe.seed, variant=recipe.variant, families=families)


def fit(labelled: list[LabelledRecord], recipe: TrainingRecipe) -> BoundaryScorer:
    """The model on every candidate, calibrated on out-of-fold predictions (folds by group)."""
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression

    rows = np.vstack([r.rows[1:] for r in labelled])
    labels = np.concatenate([r.labels[1:] for r in labelled])
    groups = np.concatenate([[_fold_key(r, k)] * (len(r.labels) - 1) for k, r in enumerate(labelled)])

    def model() -> Any:
        return HistGradientBoostingClassifier(
            max_iter=recipe.max_iter,
            learning_rate=recipe.learning_rate,
            max_leaf_nodes=recipe.max_leaf_nodes,
            min_samples_leaf=recipe.min_samples_leaf,
            l2_regularization=recipe.l2_regularization,
            random_state=recipe.seed % (2**32),
        )

    folds = _folds(groups, recipe.folds)
    out_of_fold = np.zeros(len(labels))
    for held in folds:
        mask = np.isin(groups, held)
        out_of_fold[mask] = model().fit(rows[~mask], labels[~mask]).predict_proba(rows[mask])[:, 1]
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(out_of_fold, labels)
    final = model().fit(rows, labels)
    calibrated = calibrator.predict(out_of_fold)
    metrics = {
        "records": len(labelled),
        "candidates": int(len(labels)),
        "positives": int(labels.sum()),
        "gold_starts": sum(r.gold for r in labelled),
        "unreachable_starts": sum(r.unreachable for r in labelled),
        "folds": [sorted(map(str, f)) for f in folds],
        "out_of_fold_log_loss": round(_log_loss(labels, calibrated), 5),
        "out_of_fold_ece": round(float(expected_calibration_error(calibrated, labels)), 5),
        "out_of_fold_ece_raw": round(float(expected_calibration_error(out_of_fold, labels)), 5),
    }
    card = ScorerCard("", FEATURES, sklearn.__version__, asdict(recipe), metrics)
    return BoundaryScorer(final, calibrator, card)


def _fold_key(record: LabelledRecord, index: int) -> str:
    return record.group or f"record-{index % 8}"


def _folds(groups: np.ndarray, folds: int) -> list[list[str]]:
    """Groups dealt round-robin into at most ``folds`` folds (each group entirely in one fold)."""
    names = sorted(set(groups.tolist()))
    k = max(2, min(folds, len(names)))
    return [names[i::k] for i in range(k)]


def _log_loss(labels: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def train(recipe: TrainingRecipe, out: Path, jobs: int = 2, progress: Progress | None = None) -> ScorerCard:
    """Generate, label, fit, calibrate and save a scorer at ``out``; returns its card."""
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="chartsift-train-") as tmp:
        say(f"generating {recipe.records} records (seed {recipe.seed})")
        gold = generate(recipe, Path(tmp))
        say("labelling candidates")
        labelled = label_corpus(Path(tmp) / "records", gold, jobs)
    say(f"fitting on {sum(len(r.labels) - 1 for r in labelled)} candidates")
    scorer = fit(labelled, recipe)
    return scorer.save(out)
