"""Each segment's own reference: what a segment's inputs are compared with for drift.

A segment differs from the whole reference by nature (Premium diamonds are bigger than Fair ones), so
comparing a segment's traffic with the whole reference would flag every segment. Each value of a split
feature (a categorical with 2..``max_values`` levels) keeps its own counts on the whole reference's bins
— the bins the roll-ups count on — and its own spread, kept as plain JSON in the version's profile
(:attr:`core.profile.TrainingProfile.segments`). :func:`segment_profile` turns one back into a profile
the drift tests read like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring.drift_statistics import is_discrete, numeric_edges
from core.profile import CategoricalProfile, FeatureProfile, NumericProfile, TrainingProfile

MAX_VALUES = 20  # the default of LOUPE_SEGMENT_MAX_VALUES: a profile is built before settings are known


def split_candidates(features: Mapping[str, FeatureProfile], *, max_values: int = MAX_VALUES) -> list[str]:
    """Categorical features with 2..``max_values`` levels: the ones the figures can be split by."""
    return [
        name
        for name, feature in features.items()
        if isinstance(feature, CategoricalProfile) and 2 <= len(feature.levels) <= max_values
    ]


def segment_references(
    frame: pd.DataFrame, features: Mapping[str, FeatureProfile], *, max_values: int = MAX_VALUES
) -> dict[str, Any] | None:
    """Per split feature and level: its rows, and per other feature its counts on the profile's bins."""
    splits = split_candidates(features, max_values=max_values)
    if frame.empty or not splits:
        return None
    out: dict[str, Any] = {}
    for split in splits:
        text = frame[split].astype(str).where(frame[split].notna())
        per_level: dict[str, Any] = {}
        for level in features[split].levels:  # type: ignore[union-attr]
            rows = frame[(text == level).to_numpy()]
            per_level[level] = {"rows": len(rows), "features": _counts(rows, features, split)}
        out[split] = per_level
    return out


def _counts(rows: pd.DataFrame, features: Mapping[str, FeatureProfile], split: str) -> dict[str, Any]:
    counted: dict[str, Any] = {}
    for name, feature in features.items():
        if name == split or name not in rows:
            continue
        if isinstance(feature, NumericProfile):
            values = pd.to_numeric(rows[name], errors="coerce").dropna().to_numpy(float)
            edges = numeric_edges(feature)
            index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
            coarse = np.asarray(feature.bin_edges, dtype=float)
            # Sparse: a segment fills few of the bins. Its own sums too: a segment living in the whole
            # reference's wide tail bins (Fair diamonds' tables) sits far from those bins' means.
            at, counts = np.unique(index, return_counts=True)
            sums = np.bincount(index, weights=values, minlength=len(edges) - 1)[at]
            counted[name] = {
                "at": at.tolist(),
                "n": counts.tolist(),
                "s": np.round(sums, 6).tolist(),
                "bin_counts": np.histogram(np.clip(values, coarse[0], coarse[-1]), bins=coarse)[0].tolist(),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            }
        else:
            levels = rows[name].dropna().astype(str).value_counts()
            counted[name] = [int(levels.get(level, 0)) for level in feature.levels]
    return counted


def segment_profile(profile: TrainingProfile, split: str, value: str) -> TrainingProfile | None:
    """The reference of one segment as a profile (``None``: the reference has no such segment or rows)."""
    found = (profile.segments or {}).get(split, {}).get(value)
    if not found or not found["rows"]:
        return None
    features: dict[str, FeatureProfile] = {}
    for name, item in found["features"].items():
        feature = profile.features.get(name)
        if isinstance(feature, NumericProfile):
            edges = numeric_edges(feature)
            counts, sums = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
            counts[np.asarray(item["at"], dtype=int)] = item["n"]
            sums[np.asarray(item["at"], dtype=int)] = item["s"]
            if is_discrete(feature):
                features[name] = replace(
                    feature, value_counts=counts.astype(int).tolist(), std=item["std"], bin_counts=item["bin_counts"]
                )
            else:  # the outer open bins of numeric_edges are not part of the profile's drift bins
                features[name] = replace(
                    feature,
                    drift_counts=counts[1:-1].astype(int).tolist(),
                    drift_sums=sums[1:-1].tolist(),
                    std=item["std"],
                    bin_counts=item["bin_counts"],
                )
        elif isinstance(feature, CategoricalProfile):
            features[name] = replace(feature, counts=list(item))
    return TrainingProfile(row_count=int(found["rows"]), features=features)
