"""Training the boundary scorer on generated records (``chartsift train``).

The recipe is data (records, seed, family groups left out, model parameters) and is written into the
scorer's card, so a scorer can be rebuilt bit for bit and its hash names it in every run's configuration.
Records are generated afresh, never taken from a corpus that scores us. Every candidate of the rules'
trace is labelled by whether a gold encounter starts on its line. Each stage is fitted once per
calibration fold (folds follow the generator's family groups, so each fold's predictions come from a
model that never saw those families) and once on everything. The second (record-context) stage learns
from the first stage's out-of-fold predictions, which is what it will see on a record nobody trained on;
the isotonic map from its own out-of-fold predictions to the labels is the calibration.
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
from pipeline.detect.features import CandidateTable, candidate_table, second_stage_rows
from pipeline.detect.rules import RulesDetector, record_layout
from pipeline.detect.scorer import SCORER_FEATURES, BoundaryScorer, ScorerCard
from pipeline.evaluation import expected_calibration_error, format_figure
from pipeline.text import LineIndex

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that decides a scorer: the generated records and the model's parameters."""

    records: int = 1000
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
    """The candidates of one record: their table, labels (1 = a gold encounter starts there) and how
    many gold starts no candidate reached."""

    record: str
    group: str
    table: CandidateTable
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
    table = candidate_table(lay, decisions)
    labels = np.array([d.cues.line in gold for d in decisions], dtype=np.int8)
    if len(labels):
        labels[0] = 0  # the record start is no boundary to learn
    reached = {d.cues.line for d in decisions}
    return LabelledRecord(record, group, table, labels, len(gold - reached), len(gold))


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
    """Both stages on every candidate, calibrated on the second's out-of-fold predictions (folds by group)."""
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression

    rows = np.vstack([r.table.rows[1:] for r in labelled])
    labels = np.concatenate([r.labels[1:] for r in labelled])
    groups = np.concatenate([[_fold_key(r, k)] * (len(r.labels) - 1) for k, r in enumerate(labelled)])

    def model(stage: int) -> Any:
        return HistGradientBoostingClassifier(
            max_iter=recipe.max_iter,
            learning_rate=recipe.learning_rate,
            max_leaf_nodes=recipe.max_leaf_nodes,
            min_samples_leaf=recipe.min_samples_leaf,
            l2_regularization=recipe.l2_regularization,
            random_state=(recipe.seed + stage) % (2**32),
        )

    fold_groups = _folds(groups, recipe.folds)
    folds = [np.isin(groups, held) for held in fold_groups]

    def out_of_fold(stage: int, x: np.ndarray) -> np.ndarray:
        predicted = np.zeros(len(labels))
        for mask in folds:
            predicted[mask] = model(stage).fit(x[~mask], labels[~mask]).predict_proba(x[mask])[:, 1]
        return predicted

    first = out_of_fold(0, rows)
    # The second stage's rows: each record's candidates in the light of its first-stage predictions.
    per_record, k = [], 0
    for r in labelled:
        n = len(r.labels)
        per_record.append(second_stage_rows(r.table, np.concatenate([[1.0], first[k : k + n - 1]]))[1:])
        k += n - 1
    both = np.vstack(per_record)
    second = out_of_fold(1, both)

    def isotonic(mask: np.ndarray) -> IsotonicRegression:
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(second[mask], labels[mask])

    calibrator = isotonic(np.ones(len(labels), dtype=bool))
    # The calibration's own quality, measured honestly: each fold mapped by an isotonic fit on the others.
    calibrated = np.zeros(len(labels))
    for mask in folds:
        calibrated[mask] = isotonic(~mask).predict(second[mask])
    metrics = {
        "records": len(labelled),
        "candidates": int(len(labels)),
        "positives": int(labels.sum()),
        "gold_starts": sum(r.gold for r in labelled),
        "unreachable_starts": sum(r.unreachable for r in labelled),
        "folds": [sorted(map(str, f)) for f in fold_groups],
        "out_of_fold_log_loss": round(_log_loss(labels, calibrated), 5),
        "out_of_fold_ece": round(float(expected_calibration_error(calibrated, labels)), 5),
        "out_of_fold_ece_raw": round(float(expected_calibration_error(second, labels)), 5),
        "out_of_fold_first_stage_log_loss": round(_log_loss(labels, first), 5),
    }
    card = ScorerCard("", SCORER_FEATURES, sklearn.__version__, asdict(recipe), metrics)
    return BoundaryScorer(model(0).fit(rows, labels), model(1).fit(both, labels), calibrator, card)


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


@dataclass(frozen=True)
class HeldOutScore:
    """One group left out of training: boundary F1 (within 2 lines) on fresh records of that group
    and on fresh records of the groups the model was trained on, per variant, with calibration."""

    group: int
    variant: str
    held_out_f1: float | None
    in_family_f1: float | None
    held_out_ece: float | None
    least_confident_error_share: float | None

    @property
    def gap(self) -> float | None:
        if self.held_out_f1 is None or self.in_family_f1 is None:
            return None
        return round(self.in_family_f1 - self.held_out_f1, 4)


def leave_family_out(
    recipe: TrainingRecipe,
    groups: list[int],
    test_records: int = 24,
    jobs: int = 2,
    progress: Progress | None = None,
) -> list[HeldOutScore]:
    """For each group: train without its families, then score fresh records drawn only from it
    (held out) and fresh records of the other groups (in family), clean and hard.

    Why: a score on the families a model was trained on says nothing about a format it has never
    seen; the gap between the two columns is the measure of overfitting to formats.
    """
    from dataclasses import replace

    from pipeline.evaluation import calibration, score
    from pipeline.offline import predict_files
    from pipeline.synth import generate_corpus, select_families

    say = progress or (lambda _msg: None)
    results = []
    for group in groups:
        held = replace(recipe, exclude_groups=tuple(sorted({*recipe.exclude_groups, str(group)})))
        with tempfile.TemporaryDirectory(prefix=f"chartsift-lofo-{group}-") as tmp:
            root = Path(tmp)
            say(f"group {group}: generating and labelling {held.records} training records without it")
            labelled = label_corpus(root / "train" / "records", generate(held, root / "train"), jobs)
            model_path = root / "scorer.skops"
            fit(labelled, held).save(model_path)
            for variant in ("clean", "hard"):
                figures = []
                for name, families in (
                    ("held", select_families(groups=[group])),
                    ("in", select_families(exclude_groups=[int(g) for g in held.exclude_groups])),
                ):
                    folder = root / f"{name}-{variant}"
                    seed = recipe.seed + 7919 * (group + 1) + (0 if name == "held" else 104729) + (variant == "hard")
                    gold = generate_corpus(folder, records=test_records, seed=seed, variant=variant, families=families)
                    predictions = predict_files(
                        ((folder / "records" / g["record"], g["record"]) for g in gold), "rules", {"scorer": str(model_path)}, jobs
                    )
                    texts = {p.record: p.text for p in predictions}
                    slices = score(gold, [p.corpus_entry() for p in predictions], texts)
                    figures.append((slices["all"].near_f1, calibration(gold, predictions, texts)))
                (held_f1, held_cal), (in_f1, _) = figures
                results.append(
                    HeldOutScore(group, variant, held_f1, in_f1, held_cal.candidate_ece, held_cal.least_confident_error_share)
                )
                say(f"group {group} {variant}: held out {format_figure(held_f1)}, in family {format_figure(in_f1)}")
    return results


def render_leave_family_out(results: list[HeldOutScore]) -> str:
    head = f"{'group':>5} {'variant':<7} {'held-out F1':>11} {'in-family F1':>12} {'gap':>6} {'held-out ECE':>12} {'errors in 10% least sure':>24}"
    rows = [
        f"{r.group:>5} {r.variant:<7} {format_figure(r.held_out_f1):>11} {format_figure(r.in_family_f1):>12} {format_figure(r.gap):>6} "
        f"{format_figure(r.held_out_ece):>12} {format_figure(r.least_confident_error_share):>24}"
        for r in results
    ]
    return "\n".join([head, *rows])
