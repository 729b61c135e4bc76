"""The learned boundary scorer: the probability that a candidate opens an encounter.

Why a model: the rules' cue weights were set by hand for the formats they name; on a new format the
evidence is structural (a recurring dated label-value block, a box, a new date after a closer) and its
weight depends on what else is there. A gradient-boosted tree ensemble (scikit-learn's
``HistGradientBoostingClassifier``, the standard for a few dozen tabular features) learns those
interactions from generated records only, on the CPU, in about a minute. Its raw output is mapped through
an isotonic calibration fitted on *out-of-group* predictions (each family group of the generator scored by
a model that never saw it), so a probability means the same on a format nobody has seen.

Two stages: the first scores each candidate on its own features; the second reads those scores back into
the record (``features.context_matrix``: do the record's confident starts share this block's shape, how
long since the last one) and scores again. A new format's template is thus learned per record from its
own confident starts, not named in advance.

The artifact is a skops file (a safe format: loading it executes no code) and a JSON card beside it with
the feature names, the training recipe, the library version, the training metrics and the skops file's
sha256, which is checked at load time and enters the run's configuration hash.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.detect.features import CONTEXT_FEATURES, FEATURES, CandidateTable, second_stage_rows
from pipeline.errors import ChartsiftError

MODEL_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODEL_DIR / "boundary.skops"
# Types a scorer artifact may hold beyond skops' defaults.
TRUSTED_TYPES = frozenset({"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


class ScorerError(ChartsiftError):
    """A scorer artifact is missing, altered or made for other features."""


@dataclass(frozen=True)
class ScorerCard:
    """What a scorer artifact is: its hash, the features it reads and how it was made."""

    sha256: str
    features: tuple[str, ...]
    sklearn: str
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "features": list(self.features)}, indent=2, sort_keys=True) + "\n"


# The features a scorer reads: each candidate's own, then the record-context stage's.
SCORER_FEATURES = FEATURES + CONTEXT_FEATURES


class BoundaryScorer:
    """The two fitted stages and the calibration, ready to score one record's candidates."""

    def __init__(self, model: Any, context_model: Any, calibrator: Any, card: ScorerCard) -> None:
        self.model = model
        self.context_model = context_model
        self.calibrator = calibrator
        self.card = card

    @property
    def sha256(self) -> str:
        return self.card.sha256

    def raw(self, table: CandidateTable) -> np.ndarray:
        """The second stage's uncalibrated P(boundary) per candidate."""
        if len(table) == 0:
            return np.zeros(0)
        # One record's candidates are a few hundred rows: OpenMP threads cost more than they save, and
        # on a busy machine they spin against each other.
        with _threadpools().limit(limits=1, user_api="openmp"):
            first = self.model.predict_proba(table.rows)[:, 1]
            return self.context_model.predict_proba(second_stage_rows(table, first))[:, 1]

    def probabilities(self, table: CandidateTable) -> np.ndarray:
        """Calibrated P(boundary) per candidate."""
        raw = self.raw(table)
        return np.clip(self.calibrator.predict(raw), 0.0, 1.0) if len(raw) else raw

    def save(self, path: Path) -> ScorerCard:
        """Writes ``path`` (skops) and ``path.with_suffix('.json')`` (the card); returns the card with
        the file's hash filled in."""
        import skops.io as sio

        path.parent.mkdir(parents=True, exist_ok=True)
        parts = {"model": self.model, "context_model": self.context_model, "calibrator": self.calibrator}
        data = sio.dumps(parts, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        path.write_bytes(data)
        self.card = ScorerCard(hashlib.sha256(data).hexdigest(), self.card.features, self.card.sklearn, self.card.recipe, self.card.metrics)
        card_path(path).write_text(self.card.to_json(), encoding="utf-8")
        return self.card


@lru_cache(maxsize=1)
def _threadpools() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def card_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load(path: str | Path | None = None) -> BoundaryScorer:
    """The scorer at ``path`` (default: the one shipped with chartsift), checked against its card."""
    return _load(str(Path(path or DEFAULT_MODEL).resolve()))


@lru_cache(maxsize=4)
def _load(path: str) -> BoundaryScorer:
    import skops.io as sio

    model_file = Path(path)
    card_file = card_path(model_file)
    if not model_file.is_file() or not card_file.is_file():
        raise ScorerError(f"scorer {model_file} or its card {card_file.name} is missing (train one with `chartsift train`)")
    data = model_file.read_bytes()
    try:
        raw = json.loads(card_file.read_text(encoding="utf-8"))
        card = ScorerCard(raw["sha256"], tuple(raw["features"]), raw["sklearn"], raw.get("recipe", {}), raw.get("metrics", {}))
    except (ValueError, TypeError, KeyError) as exc:
        raise ScorerError(f"scorer card {card_file} is not valid ({type(exc).__name__})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != card.sha256:
        raise ScorerError(f"scorer {model_file} does not match its card (sha256 {digest[:12]} != {card.sha256[:12]})")
    if card.features != SCORER_FEATURES:
        raise ScorerError(f"scorer {model_file} was trained on other features; retrain it with `chartsift train`")
    untrusted = set(sio.get_untrusted_types(data=data))
    if not untrusted <= TRUSTED_TYPES:
        raise ScorerError(f"scorer {model_file} holds unexpected types: {sorted(untrusted - TRUSTED_TYPES)}")
    parts = sio.loads(data, trusted=sorted(untrusted))
    return BoundaryScorer(parts["model"], parts["context_model"], parts["calibrator"], card)
