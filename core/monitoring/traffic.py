"""Simulated inputs for any model: rows drawn from a version's reference profile, optional drift, timestamps.

Nothing here knows the demo data: numeric features are drawn from the reference's fine drift bins
(exact values for discrete ones), categorical ones from their level counts, so the traffic looks like
what the version was trained on — until a :class:`Shift` moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.profile import CategoricalProfile, NumericProfile, TrainingProfile
from core.serving.answers import Answers
from core.task import class_text
from storage.base import utcnow

QUOTES = ('"', "'")


@dataclass(frozen=True)
class Shift:
    """A drift to inject: multiply a numeric feature, or move a share of rows to one level of a categorical."""

    feature: str
    factor: float | None = None  # numeric: value × factor
    level: str | None = None  # categorical: this level for ``share`` of the rows
    share: float = 0.5

    @classmethod
    def parse(cls, text: str) -> Shift:
        """``bmi=1.2`` (numeric factor), ``cut=Fair`` / ``cut=Fair:0.4`` (level and share); quote odd names.

        The feature is everything before the last ``=`` (``body mass=1.2``, ``größe=0.9``), or a quoted
        name (``"a=b"=1.2``) when the name itself holds an ``=``.
        """
        text = text.strip()
        if text[:1] in QUOTES and text.find(text[0], 1) > 0:
            end = text.find(text[0], 1)
            feature, rest = text[1:end], text[end + 1 :]
            value = rest[1:] if rest.startswith("=") else None
        else:
            feature, equals, value_text = text.rpartition("=")
            value = value_text if equals else None
        if not feature.strip() or not value or not value.strip():
            raise InvalidInput(f"a shift must look like FEATURE=FACTOR or FEATURE=LEVEL[:SHARE], not {text!r}")
        feature, value = feature.strip(), value.strip()
        try:
            factor = float(value)
        except ValueError:
            return cls._level_shift(feature, value, text)
        if not np.isfinite(factor) or factor <= 0:
            raise InvalidInput(f"shift {text!r}: the factor must be a positive number")
        return cls(feature=feature, factor=factor)

    @classmethod
    def _level_shift(cls, feature: str, value: str, text: str) -> Shift:
        level, _, share = value.rpartition(":") if ":" in value else (value, "", "")
        try:
            share_value = float(share) if share else 0.5
        except ValueError:
            level, share_value = value, 0.5  # a level that holds a colon itself
        if not 0 < share_value <= 1:
            raise InvalidInput(f"shift {text!r}: the share after ':' must be a number in (0, 1]")
        return cls(feature=feature, level=level, share=share_value)

    def apply(self, frame: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
        """The frame with this shift applied (a copy)."""
        if self.feature not in frame:
            raise InvalidInput(
                f"shift: {self.feature!r} is not an input of this model (inputs: {', '.join(map(str, frame.columns))})"
            )
        shifted = frame.copy()
        column = shifted[self.feature]
        if self.factor is not None:
            if not is_numeric(column):
                raise InvalidInput(
                    f"shift: {self.feature!r} is categorical; give a level, e.g. {self.feature}=LEVEL:0.4"
                )
            shifted[self.feature] = column * self.factor
        else:
            chosen = rng.random(len(shifted)) < self.share
            shifted[self.feature] = column.astype(str).where(~chosen, self.level)
        return shifted


@dataclass(frozen=True)
class Traffic:
    """Sampled inputs (as drawn, and with the shifts applied) and the timestamps they will be logged at."""

    drawn: pd.DataFrame  # as the reference would produce them: the truth is computed from these
    features: pd.DataFrame  # what is sent to the model (shifted)
    timestamps: np.ndarray  # datetime64[ns], UTC


def is_numeric(column: pd.Series) -> bool:
    """Numbers, not booleans."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def draw_inputs(profile: TrainingProfile, *, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` rows drawn feature by feature from the reference's distributions."""
    columns: dict[str, object] = {}
    for name, feature in profile.features.items():
        if isinstance(feature, NumericProfile):
            columns[name] = _draw_numeric(feature, rows, rng)
        elif isinstance(feature, CategoricalProfile):
            counts = np.asarray(feature.counts, dtype=float)
            columns[name] = rng.choice(np.asarray(feature.levels, dtype=object), rows, p=counts / counts.sum())
    return pd.DataFrame(columns)


def _draw_numeric(feature: NumericProfile, rows: int, rng: np.random.Generator) -> np.ndarray:
    if feature.values:
        counts = np.asarray(feature.value_counts, dtype=float)
        return rng.choice(np.asarray(feature.values, dtype=float), rows, p=counts / counts.sum())
    edges = np.asarray(feature.drift_edges or feature.bin_edges, dtype=float)
    counts = np.asarray(feature.drift_counts or feature.bin_counts, dtype=float)
    bins = rng.choice(len(counts), rows, p=counts / counts.sum())
    values = rng.uniform(edges[bins], edges[bins + 1])
    values = np.clip(values, feature.min, feature.max)
    return np.round(values) if feature.dtype == "integer" else values


def sample_traffic(
    profile: TrainingProfile,
    *,
    rows: int,
    days: float,
    shifts: tuple[Shift, ...] = (),
    seed: int = 0,
    now: datetime | None = None,
) -> Traffic:
    """``rows`` inputs drawn from ``profile``, shifted, with timestamps spread over the past ``days``."""
    if rows <= 0:
        raise InvalidInput("--rows must be a positive number")
    if days <= 0:
        raise InvalidInput("--days must be a positive number")
    rng = np.random.default_rng(seed)
    drawn = draw_inputs(profile, rows=rows, rng=rng)
    features = drawn
    for shift in shifts:
        features = shift.apply(features, rng=rng)
    end = pd.Timestamp(now or utcnow())
    offsets = np.sort(rng.random(rows)) * days * 86_400
    timestamps = (end - pd.to_timedelta(offsets[::-1], unit="s")).to_numpy()
    return Traffic(drawn=drawn, features=features, timestamps=timestamps)


def simulated_truth(predictions: np.ndarray, *, spread: float | None, rng: np.random.Generator) -> np.ndarray:
    """True values for simulated answers: the unshifted answer plus noise as wide as the holdout error.

    Computed from the inputs as drawn, so a shift makes the served answers drift away from the truth
    the way real drift does. Without a holdout figure the noise is a tenth of the answers' spread.
    """
    width = spread if spread is not None and spread > 0 else 0.1 * float(np.std(predictions) or 1.0)
    return predictions + rng.normal(0.0, width, len(predictions))


def simulated_labels(answers: Answers, *, rng: np.random.Generator, accuracy: float | None = None) -> np.ndarray:
    """True classes for simulated answers (as text): each drawn from the model's own class probabilities.

    Computed from the inputs as drawn, so a shift (answers from moved inputs) makes the answers
    measurably worse. With the model's holdout ``accuracy`` the probabilities are sharpened or softened
    alike (one temperature for all rows) until the model is expected to be right that often: traffic
    drawn feature by feature is not the holdout, yet unshifted it should score like it — as the
    regressor's truth is noise as wide as its holdout error. A classifier without probabilities is
    taken at its word: its label is the truth.
    """
    if answers.labels is None:
        raise ValueError("simulated labels need a classifier's answers")
    if answers.probabilities is None:
        return np.array(answers.label_texts, dtype=object)
    probabilities = np.clip(answers.probabilities, 0.0, None)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    if accuracy is not None and 0 < accuracy < 1 and len(probabilities):
        probabilities = _tempered(probabilities, accuracy)
    cumulative = np.cumsum(probabilities, axis=1)
    drawn = (rng.random((len(cumulative), 1)) > cumulative).sum(axis=1)
    names = np.array([class_text(value) for value in answers.classes], dtype=object)
    return names[np.minimum(drawn, len(names) - 1)]


def _tempered(probabilities: np.ndarray, accuracy: float) -> np.ndarray:
    """``probabilities`` at the one temperature whose mean top probability is ``accuracy`` (bisection)."""
    logs = np.log(np.clip(probabilities, 1e-12, None))

    def at(log_temperature: float) -> np.ndarray:
        scaled = logs / np.exp(log_temperature)
        scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return scaled / scaled.sum(axis=1, keepdims=True)

    low, high = -6.0, 6.0  # sharper (low) to flatter (high): the mean top probability falls as it rises
    for _ in range(40):
        middle = (low + high) / 2
        if at(middle).max(axis=1).mean() > accuracy:
            low = middle
        else:
            high = middle
    return at((low + high) / 2)
