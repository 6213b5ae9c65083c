"""The training profile: what a model saw in training, used by forms, validation and drift.

Stored as JSON next to each training run. Any tabular model can carry one, so nothing here
knows about diamonds: rules such as "carat must be positive" are declared by the trainer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

PROFILE_ARTIFACT = "training_profile.json"
DEFAULT_BINS = 20
# Finer reference histogram for drift: percentile bins plus empty bins beyond the training range,
# so binned Wasserstein/KS track the exact statistics (see core/drift.py).
DRIFT_QUANTILE_BINS = 100
DRIFT_OUTER_BINS = 20  # each side, spanning one training range
DISCRETE_LIMIT = 5  # numerics with at most this many values keep their exact value counts

Rule = dict[str, Any]  # {"rule": "gt" | "ge" | "lt" | "le", "value": float}


@dataclass(frozen=True)
class NumericProfile:
    """Summary of one numeric feature in the training reference."""

    name: str
    dtype: Literal["float", "integer"]
    min: float
    max: float
    mean: float
    std: float
    median: float
    unique_count: int
    bin_edges: list[float]
    bin_counts: list[int]
    rules: list[Rule] = field(default_factory=list)
    kind: Literal["numeric"] = "numeric"
    drift_edges: list[float] = field(default_factory=list)  # finite, ascending; bins are [e[i], e[i+1])
    drift_counts: list[int] = field(default_factory=list)
    drift_sums: list[float] = field(default_factory=list)  # sum of the values in each drift bin
    values: list[float] = field(default_factory=list)  # distinct values when unique_count <= DISCRETE_LIMIT
    value_counts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CategoricalProfile:
    """Level counts of one categorical feature in the training reference (levels in their order)."""

    name: str
    levels: list[str]
    counts: list[int]
    kind: Literal["categorical"] = "categorical"

    @property
    def most_frequent(self) -> str:
        return self.levels[int(np.argmax(self.counts))]


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class TrainingProfile:
    """Per-feature reference statistics plus the row count they were computed on."""

    row_count: int
    features: dict[str, FeatureProfile]
    target: str | None = None
    # The target's own distribution in the reference, when it was given: a classifier's label counts
    # (its classes, as text) or a regressor's value bins. Prediction drift is measured against it.
    target_profile: FeatureProfile | None = None
    # The model's own answers on the reference, when they were computed: a regressor's predictions or a
    # classifier's scores (see core.serving.answers.Answers.values). Score/output drift is measured against it.
    prediction_profile: NumericProfile | None = None
    # A PCA fitted on the reference rows for multivariate drift (core.monitoring.multivariate): plain JSON.
    multivariate: dict[str, Any] | None = None
    # Each segment's own counts on these bins (core.monitoring.segment_reference): segment drift compares with them.
    segments: dict[str, Any] | None = None
    # A bounded sample of the reference rows (core.monitoring.reference_sample): simulated traffic draws whole rows.
    sample: dict[str, Any] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """The reference's classes (as text) when its target is categorical, else ``()``."""
        if isinstance(self.target_profile, CategoricalProfile):
            return tuple(self.target_profile.levels)
        return ()

    def to_json(self) -> str:
        payload = {
            "row_count": self.row_count,
            "target": self.target,
            "features": [vars(feature) for feature in self.features.values()],
            "target_profile": vars(self.target_profile) if self.target_profile is not None else None,
            "prediction_profile": vars(self.prediction_profile) if self.prediction_profile is not None else None,
            "multivariate": self.multivariate,
            "segments": self.segments,
            "sample": self.sample,
        }
        return json.dumps(payload, indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainingProfile:
        payload = json.loads(text)
        features: dict[str, FeatureProfile] = {}
        for item in payload["features"]:
            feature = _feature_from_json(item)
            features[feature.name] = feature
        target_item = payload.get("target_profile")
        prediction_item = payload.get("prediction_profile")
        return cls(
            row_count=int(payload["row_count"]),
            features=features,
            target=payload.get("target"),
            target_profile=_feature_from_json(target_item) if target_item else None,
            prediction_profile=NumericProfile(**prediction_item) if prediction_item else None,
            multivariate=payload.get("multivariate"),
            segments=payload.get("segments"),
            sample=payload.get("sample"),
        )

    @classmethod
    def load(cls, path: Path) -> TrainingProfile:
        return cls.from_json(Path(path).read_text())


def _feature_from_json(item: dict[str, Any]) -> FeatureProfile:
    return NumericProfile(**item) if item.get("kind") == "numeric" else CategoricalProfile(**item)


def _numeric_profile(name: str, values: pd.Series, *, n_bins: int, rules: list[Rule]) -> NumericProfile:
    values = values.dropna()  # missing values are not part of the distribution (a team's data may have some)
    array = values.to_numpy(dtype=float)
    edges = np.unique(np.quantile(array, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) < 2:  # a constant column still needs one bin
        edges = np.array([edges[0], edges[0] + 1.0])
    counts, _ = np.histogram(array, bins=edges)
    drift_edges = _drift_edges(array)
    drift_bins = np.searchsorted(drift_edges, array, side="right") - 1
    drift_counts = np.bincount(drift_bins, minlength=len(drift_edges) - 1)
    drift_sums = np.bincount(drift_bins, weights=array, minlength=len(drift_edges) - 1)
    distinct, distinct_counts = np.unique(array, return_counts=True)
    is_discrete = len(distinct) <= DISCRETE_LIMIT
    is_integer = pd.api.types.is_integer_dtype(values.dtype)
    return NumericProfile(
        name=name,
        dtype="integer" if is_integer else "float",
        min=float(array.min()),
        max=float(array.max()),
        mean=float(array.mean()),
        std=float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        median=float(np.median(array)),
        unique_count=int(pd.Series(array).nunique()),
        bin_edges=[float(edge) for edge in edges],
        bin_counts=[int(count) for count in counts],
        rules=list(rules),
        drift_edges=[float(edge) for edge in drift_edges],
        drift_counts=[int(count) for count in drift_counts],
        drift_sums=[float(total) for total in drift_sums],
        values=[float(value) for value in distinct] if is_discrete else [],
        value_counts=[int(count) for count in distinct_counts] if is_discrete else [],
    )


def _drift_edges(array: np.ndarray) -> np.ndarray:
    """Percentile edges of ``array`` padded with equal-width bins one training range wide on each side."""
    inner = np.unique(np.quantile(array, np.linspace(0.0, 1.0, DRIFT_QUANTILE_BINS + 1)))
    span = float(inner[-1] - inner[0]) or max(abs(float(inner[0])), 1.0)
    step = span / DRIFT_OUTER_BINS
    below = inner[0] - step * np.arange(DRIFT_OUTER_BINS, 0, -1)
    above = inner[-1] + step * np.arange(1, DRIFT_OUTER_BINS + 1)
    return np.concatenate([below, inner, above])


def _categorical_profile(name: str, values: pd.Series) -> CategoricalProfile:
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = [str(level) for level in values.cat.categories]
        counts = values.value_counts(sort=False).reindex(values.cat.categories, fill_value=0)
    else:
        counts = values.dropna().astype(str).value_counts().sort_index()
        levels = [str(level) for level in counts.index]
    return CategoricalProfile(name=name, levels=levels, counts=[int(count) for count in counts.to_numpy()])


def build_profile(
    features: pd.DataFrame,
    *,
    target: str | None = None,
    rules: dict[str, list[Rule]] | None = None,
    n_bins: int = DEFAULT_BINS,
    target_values: pd.Series | None = None,
    categorical_target: bool | None = None,
    pca_variance: float = 0.65,
    segment_max_values: int = 20,
) -> TrainingProfile:
    """Profile every column of ``features``: numerics get quantile bins, the rest level counts.

    ``target_values`` (optional) profiles the target too: as levels when ``categorical_target`` (default:
    when its values are not numbers, or are integers/booleans with few distinct values), else as bins.
    The rows also fit the PCA multivariate drift compares with (``pca_variance`` of the variance kept), and give
    each segment (a level of a categorical with at most ``segment_max_values`` levels) its own reference.
    """
    rules = rules or {}
    profiled: dict[str, FeatureProfile] = {}
    for name in features.columns:
        column = features[name]
        if column.isna().all():
            continue  # nothing to describe
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            profiled[name] = _numeric_profile(name, column, n_bins=n_bins, rules=rules.get(name, []))
        else:
            profiled[name] = _categorical_profile(name, column)
    target_profile: FeatureProfile | None = None
    if target_values is not None and target_values.notna().any():
        name = target or str(target_values.name or "target")
        if categorical_target is None:
            categorical_target = _looks_categorical(target_values)
        target_profile = (
            _categorical_profile(name, target_values)
            if categorical_target
            else _numeric_profile(name, target_values, n_bins=n_bins, rules=[])
        )
    # The PCA and the segments' own references need the rows, which only this sees.
    from core.monitoring.multivariate import fit_reference_pca
    from core.monitoring.reference_sample import sample_of
    from core.monitoring.segment_reference import segment_references

    multivariate = fit_reference_pca(features, profiled, variance=pca_variance)
    return TrainingProfile(
        row_count=len(features),
        features=profiled,
        target=target,
        target_profile=target_profile,
        multivariate=multivariate,
        segments=segment_references(features, profiled, max_values=segment_max_values),
        sample=sample_of(features, profiled, multivariate=multivariate),
    )


def profile_predictions(values: np.ndarray, *, name: str = "prediction", n_bins: int = DEFAULT_BINS) -> NumericProfile:
    """A numeric profile of a model's answers on the reference (for :attr:`TrainingProfile.prediction_profile`)."""
    return _numeric_profile(name, pd.Series(np.asarray(values, dtype=float)), n_bins=n_bins, rules=[])


def _looks_categorical(values: pd.Series) -> bool:
    """Labels rather than quantities: text, booleans, or integers with at most 20 distinct values."""
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        return True
    return pd.api.types.is_integer_dtype(values.dtype) and values.nunique() <= 20
