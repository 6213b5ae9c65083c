"""The reference's row sample kept in its profile, and traffic bootstrapped from it a chunk at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInput
from core.monitoring.multivariate import reconstruction_errors
from core.monitoring.reference_sample import (
    MIN_SAMPLE_ROWS,
    SAMPLE_CELLS,
    SAMPLE_ROWS,
    keeps_relations,
    sample_rows,
    traffic_chunks,
)
from core.monitoring.traffic import Shift
from core.profile import TrainingProfile, build_profile


def related(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """Two numerics that go together, a categorical that sets their scale, a boolean and some missing values."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 1.0, rows)
    kind = rng.choice(["small", "large", "NA"], rows, p=[0.6, 0.3, 0.1])
    frame = pd.DataFrame(
        {
            "size": size,
            "weight": size * np.where(kind == "large", 3.0, 1.0) + rng.normal(0, 0.05, rows),
            "kind": kind,
            "flag": rng.random(rows) < 0.3,
        }
    )
    frame.loc[frame.index[::50], "weight"] = np.nan
    return frame


def test_the_sample_round_trips_through_the_profile_file_and_keeps_the_rows_whole() -> None:
    reference = related(3_000)
    profile = TrainingProfile.from_json(build_profile(reference).to_json())

    sample = sample_rows(profile)
    assert sample is not None and profile.sample is not None and keeps_relations(profile)
    assert len(sample) == profile.sample["rows"] == 3_000 and profile.sample["of"] == 3_000  # small: all rows
    assert list(sample.columns) == ["size", "weight", "kind", "flag"]
    # the level "NA" stays a level, a missing number stays missing, a boolean is its level text
    assert set(sample["kind"]) == {"small", "large", "NA"} and set(sample["flag"]) == {"True", "False"}
    assert sample["weight"].isna().sum() == reference["weight"].isna().sum()
    merged = sample.merge(reference.astype({"flag": str}), on=["size", "kind", "flag"], suffixes=("", "_ref"))
    assert len(merged) == 3_000 and np.allclose(merged["weight"], merged["weight_ref"], equal_nan=True)


def test_a_big_or_wide_reference_keeps_a_bounded_sample_with_the_references_mean_error() -> None:
    big = related(60_000, seed=1)
    profile = build_profile(big)
    assert profile.sample is not None and profile.multivariate is not None
    sample = sample_rows(profile)
    assert sample is not None and len(sample) == SAMPLE_ROWS and profile.sample["of"] == 60_000
    # taken evenly along the PCA errors: its mean error is the reference's, far closer than the band's width
    errors = reconstruction_errors(profile.multivariate, sample)
    band = profile.multivariate["upper"] - profile.multivariate["lower"]
    assert abs(errors.mean() - profile.multivariate["reference_error"]) < band / 20

    rng = np.random.default_rng(2)
    wide = pd.DataFrame(rng.normal(size=(3_000, 400)), columns=[f"c{i}" for i in range(400)])
    kept = build_profile(wide).sample
    assert kept is not None and kept["rows"] == max(MIN_SAMPLE_ROWS, SAMPLE_CELLS // 400)


def test_traffic_is_bootstrapped_in_chunks_oldest_first_and_shifted_after_drawing() -> None:
    profile = build_profile(related(2_000))
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)

    chunks = list(
        traffic_chunks(
            profile,
            rows=2_500,
            days=2,
            shifts=(Shift.parse("size=2"),),
            seed=3,
            now=now,
            complete=["weight"],
            chunk=1_000,
        )
    )

    assert [len(chunk.features) for chunk in chunks] == [1_000, 1_000, 500]
    stamps = pd.to_datetime(np.concatenate([chunk.timestamps for chunk in chunks]), utc=True)
    assert stamps.is_monotonic_increasing and stamps.min() >= now - timedelta(days=2) and stamps.max() <= now
    drawn = pd.concat([chunk.drawn for chunk in chunks], ignore_index=True)
    shifted = pd.concat([chunk.features for chunk in chunks], ignore_index=True)
    assert drawn["weight"].notna().all()  # rows missing a required input are not drawn
    large = drawn["kind"] == "large"
    # whole rows: weight still follows size and kind in every drawn row; the shift moved size alone
    assert (np.abs(drawn["weight"] - np.where(large, 3.0, 1.0) * drawn["size"]) < 0.3).all()
    assert np.allclose(shifted["size"], drawn["size"] * 2) and shifted["weight"].equals(drawn["weight"])


def test_a_reference_without_a_sample_still_gives_traffic_and_shifts_are_checked_first() -> None:
    profile = replace(build_profile(related(1_000)), sample=None)

    (chunk,) = traffic_chunks(profile, rows=300, days=1, seed=1)

    assert not keeps_relations(profile) and len(chunk.features) == 300
    assert set(chunk.features.columns) == {"size", "weight", "kind", "flag"}
    for sampled in (profile, build_profile(related(1_000))):
        with pytest.raises(InvalidInput, match="'height' is not an input of this model"):
            next(traffic_chunks(sampled, rows=10, days=1, shifts=(Shift.parse("height=2"),)))
        with pytest.raises(InvalidInput, match="'kind' is categorical"):
            next(traffic_chunks(sampled, rows=10, days=1, shifts=(Shift.parse("kind=2"),)))
        with pytest.raises(InvalidInput, match="--rows must be a positive number"):
            next(traffic_chunks(sampled, rows=0, days=1))
