import numpy as np
import pandas as pd

from core.profile import CategoricalProfile, NumericProfile, TrainingProfile, build_profile


def sample_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": rng.normal(10, 2, 1_000),
            "count": rng.integers(0, 5, 1_000),
            "grade": pd.Categorical(rng.choice(["low", "mid", "high"], 1_000), categories=["low", "mid", "high"]),
            "colour": rng.choice(["red", "blue"], 1_000),
        }
    )


def test_numeric_features_get_summary_and_quantile_bins() -> None:
    frame = sample_frame()
    profile = build_profile(frame, rules={"size": [{"rule": "gt", "value": 0}]}, n_bins=10)

    size = profile.features["size"]
    assert isinstance(size, NumericProfile)
    assert size.min == frame["size"].min() and size.max == frame["size"].max()
    assert np.isclose(size.mean, frame["size"].mean()) and np.isclose(size.std, frame["size"].std())
    assert len(size.bin_edges) == 11 and sum(size.bin_counts) == 1_000
    assert size.rules == [{"rule": "gt", "value": 0}]
    counts = profile.features["count"]
    assert isinstance(counts, NumericProfile) and counts.dtype == "integer" and counts.unique_count == 5


def test_categorical_levels_keep_their_order_and_counts() -> None:
    frame = sample_frame()
    profile = build_profile(frame)

    grade = profile.features["grade"]
    assert isinstance(grade, CategoricalProfile)
    assert grade.levels == ["low", "mid", "high"]
    assert grade.counts == [int((frame["grade"] == level).sum()) for level in grade.levels]
    assert grade.most_frequent == frame["grade"].value_counts().idxmax()
    colour = profile.features["colour"]
    assert isinstance(colour, CategoricalProfile) and sorted(colour.levels) == ["blue", "red"]


def test_json_round_trip() -> None:
    profile = build_profile(sample_frame(), target="y")

    again = TrainingProfile.from_json(profile.to_json())

    assert again == profile
    assert again.row_count == 1_000 and again.target == "y"
