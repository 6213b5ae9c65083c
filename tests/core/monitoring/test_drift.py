"""Drift statistics against scipy on the raw arrays; the binned results within stated tolerances."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from core.dataset import load_diamonds, split_diamonds
from core.monitoring.drift import DriftThresholds, current_counts, drift_report
from core.monitoring.drift_statistics import bin_values, ks_binned, numeric_edges, population_stability_index
from core.profile import build_profile
from core.settings import get_settings

# Wasserstein on point masses at the bin means vs scipy on the raw values (normalised by the std).
WASSERSTEIN_TOLERANCE = 0.003
NUMERIC = ["carat", "depth", "table", "x", "y", "z"]


@pytest.fixture(scope="module")
def diamonds():
    split = split_diamonds(load_diamonds())
    profile = build_profile(split.X_train)
    live = load_diamonds().drop(columns=["price"]).sample(60_000, replace=True, random_state=3).reset_index(drop=True)
    return split.X_train, profile, live


def evidently_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    return stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)


@pytest.mark.parametrize("shift", [1.0, 1.05, 1.1, 1.5])
def test_binned_wasserstein_matches_scipy_on_raw_values(diamonds, shift: float) -> None:
    reference, profile, live = diamonds
    live = live.assign(carat=live["carat"] * shift)

    report = drift_report(profile, current_counts(profile, live))

    by_feature = {feature.feature: feature for feature in report.features}
    for name in NUMERIC:
        exact = evidently_wasserstein(reference[name].to_numpy(float), live[name].to_numpy(float))
        assert by_feature[name].method == "wasserstein"
        assert by_feature[name].statistic == pytest.approx(exact, abs=WASSERSTEIN_TOLERANCE), name


def test_binned_wasserstein_on_a_continuous_distribution() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"v": rng.lognormal(0.0, 0.6, 20_000)})
    profile = build_profile(reference)
    for scale in (1.0, 1.08, 1.3, 4.0):  # 4×: most of the mass lands beyond the training range
        current = rng.lognormal(0.0, 0.6, 30_000) * scale

        drift = drift_report(profile, current_counts(profile, pd.DataFrame({"v": current}))).features[0]

        exact = evidently_wasserstein(reference["v"].to_numpy(), current)
        assert drift.statistic == pytest.approx(exact, abs=WASSERSTEIN_TOLERANCE, rel=0.01)


def test_jensenshannon_on_levels_equals_scipy_exactly(diamonds) -> None:
    reference, profile, live = diamonds
    live = live.assign(cut=live["cut"].astype(str))
    live.loc[: len(live) // 3, "cut"] = "Fair"

    drift = {feature.feature: feature for feature in drift_report(profile, current_counts(profile, live)).features}

    levels = sorted(set(reference["cut"].astype(str)) | set(live["cut"]))
    reference_counts = reference["cut"].astype(str).value_counts().reindex(levels, fill_value=0)
    live_counts = live["cut"].value_counts().reindex(levels, fill_value=0)
    expected = distance.jensenshannon(reference_counts.to_numpy(float), live_counts.to_numpy(float))
    assert drift["cut"].method == "jensenshannon"
    assert drift["cut"].statistic == pytest.approx(expected, abs=1e-12)
    assert drift["cut"].drifted


def test_a_known_shift_is_flagged_and_the_same_distribution_is_not(diamonds) -> None:
    _, profile, live = diamonds

    same = drift_report(profile, current_counts(profile, live))
    shifted = drift_report(profile, current_counts(profile, live.assign(carat=live["carat"] * 1.1)))

    assert same.drifted_count == 0 and same.share == 0 and same.dataset_drift is False
    assert [feature.feature for feature in shifted.features if feature.drifted] == ["carat"]
    assert shifted.share == pytest.approx(1 / 9) and shifted.dataset_drift is False


def test_dataset_drift_when_half_the_features_drift(diamonds) -> None:
    _, profile, live = diamonds
    moved = live.assign(**{name: live[name] * 1.3 for name in NUMERIC[:5]})

    report = drift_report(profile, current_counts(profile, moved))

    assert report.drifted_count == 5 and report.share == pytest.approx(5 / 9)
    assert report.dataset_drift is True


def test_small_reference_uses_ks_and_chisquare_like_scipy() -> None:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"v": rng.normal(10, 2, 800), "c": rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2])})
    profile = build_profile(reference)
    same = reference.sample(5_000, replace=True, random_state=1)  # the reference's own distribution
    moved = pd.DataFrame({"v": rng.normal(10.6, 2, 5_000), "c": rng.choice(["a", "b", "c"], 5_000, p=[0.4, 0.3, 0.3])})

    for current, drifted in ((same, False), (moved, True)):
        report = {item.feature: item for item in drift_report(profile, current_counts(profile, current)).features}
        ks = stats.ks_2samp(reference["v"], current["v"], method="asymp")
        observed = current["c"].value_counts().reindex(["a", "b", "c"]).to_numpy(float)
        expected = reference["c"].value_counts().reindex(["a", "b", "c"]).to_numpy(float) * len(current) / 800
        chi = stats.chisquare(observed, expected)
        assert report["v"].method == "ks" and report["v"].drifted is drifted
        # KS is taken at ≤ 100 percentile edges: same verdict, p-value near scipy's on the raw values.
        assert report["v"].statistic == pytest.approx(ks.pvalue, abs=0.15)
        assert report["c"].method == "chisquare" and report["c"].drifted is drifted
        assert report["c"].statistic == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)


def test_ks_statistic_at_edges_is_close_to_the_raw_statistic() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(0, 1, 900)
    current = rng.normal(0.3, 1, 4_000)
    profile = build_profile(pd.DataFrame({"v": reference})).features["v"]
    edges = numeric_edges(profile)

    statistic, _ = ks_binned(edges, bin_values(reference, edges).counts, bin_values(current, edges).counts)

    raw = stats.ks_2samp(reference, current).statistic
    assert statistic <= raw + 1e-12 and statistic == pytest.approx(raw, abs=0.02)


def test_numerics_with_few_values_use_jensenshannon_on_their_values() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"doors": rng.choice([2, 3, 4, 5], 5_000, p=[0.1, 0.2, 0.6, 0.1])})
    profile = build_profile(reference)
    current = pd.DataFrame({"doors": rng.choice([2, 3, 4, 5], 5_000, p=[0.4, 0.2, 0.3, 0.1])})

    drift = drift_report(profile, current_counts(profile, current)).features[0]

    expected = distance.jensenshannon(
        reference["doors"].value_counts().sort_index().to_numpy(float),
        current["doors"].value_counts().sort_index().to_numpy(float),
    )
    assert drift.method == "jensenshannon" and drift.drifted
    assert drift.statistic == pytest.approx(expected, abs=1e-12)


def test_psi_matches_its_formula() -> None:
    reference = np.array([50.0, 30.0, 20.0])
    current = np.array([30.0, 30.0, 40.0])

    expected = sum((c - r) * np.log(c / r) for r, c in ((0.5, 0.3), (0.3, 0.3), (0.2, 0.4)))
    assert population_stability_index(reference, current) == pytest.approx(expected)
    assert population_stability_index(reference, reference) == 0


def test_a_profile_without_drift_bins_still_works(diamonds) -> None:
    _, profile, live = diamonds
    old = replace(
        profile,
        features={
            name: replace(feature, drift_edges=[], drift_counts=[], drift_sums=[]) if name in NUMERIC else feature
            for name, feature in profile.features.items()
        },
    )

    report = drift_report(old, current_counts(old, live.assign(carat=live["carat"] * 1.2)))

    assert [feature.feature for feature in report.features if feature.drifted] == ["carat"]


def test_thresholds_come_from_settings(monkeypatch, diamonds) -> None:
    _, profile, live = diamonds
    monkeypatch.setenv("LOUPE_DRIFT_WASSERSTEIN", "0.5")
    monkeypatch.setenv("LOUPE_DRIFT_SHARE", "0.1")
    get_settings.cache_clear()
    thresholds = DriftThresholds.from_settings(get_settings())

    report = drift_report(
        profile, current_counts(profile, live.assign(carat=live["carat"] * 1.1)), thresholds=thresholds
    )

    carat = report.features[0]
    assert carat.threshold == 0.5 and not carat.drifted and carat.statistic > 0.1
    assert report.share_threshold == 0.1


def test_a_feature_below_the_minimum_of_rows_has_no_verdict(diamonds) -> None:
    _, profile, live = diamonds
    few = live.head(99).assign(carat=live["carat"].head(99) * 2)
    # A feature missing from most rows: it alone is short of evidence, the others are judged.
    many = live.head(3_000).assign(carat=live["carat"].head(3_000) * 2)
    many.loc[many.index[50:], "depth"] = np.nan

    short = drift_report(profile, current_counts(profile, few))
    mixed = drift_report(profile, current_counts(profile, many))
    lenient = drift_report(profile, current_counts(profile, few), thresholds=DriftThresholds(min_rows=50))

    assert {item.verdict for item in short.features} == {"not enough data"}
    assert short.share is None and short.dataset_drift is None and short.drifted_count == 0
    assert json.loads(short.to_json())["judged_features"] == 0
    depth = next(item for item in mixed.features if item.feature == "depth")
    carat = next(item for item in mixed.features if item.feature == "carat")
    assert depth.verdict == "not enough data" and not depth.drifted and depth.current_count == 50
    assert carat.verdict == "drifted" and len(mixed.judged) == 8 and mixed.share == pytest.approx(1 / 8)
    assert lenient.share is not None and "carat" in [item.feature for item in lenient.features if item.drifted]


def test_report_exports_json_and_csv(diamonds) -> None:
    _, profile, live = diamonds
    report = drift_report(profile, current_counts(profile, live.assign(carat=live["carat"] * 1.1)))

    payload = json.loads(report.to_json(model_version=3))
    frame = pd.read_csv(pd.io.common.StringIO(report.to_csv()))

    assert payload["model_version"] == 3 and payload["dataset_drift"] is False
    assert payload["drift_share"] == pytest.approx(1 / 9) and payload["feature_count"] == 9
    carat = next(item for item in payload["features"] if item["feature"] == "carat")
    assert carat["method"] == "wasserstein" and carat["drifted"] is True and carat["threshold"] == 0.1
    assert list(frame["feature"]) == [item["feature"] for item in payload["features"]]
    assert frame.loc[frame["feature"] == "carat", "drifted"].item()


def test_nothing_to_compare_gives_an_undecided_report(diamonds) -> None:
    _, profile, _ = diamonds

    report = drift_report(profile, {})

    assert report.features == [] and report.share is None and report.dataset_drift is None


def test_profile_keeps_drift_bins_with_counts_and_sums(diamonds) -> None:
    reference, profile, _ = diamonds
    carat = profile.features["carat"]
    doors = build_profile(pd.DataFrame({"doors": [2, 4, 4, 5, 5, 5]})).features["doors"]

    assert sum(carat.drift_counts) == len(reference)
    assert sum(carat.drift_sums) == pytest.approx(reference["carat"].sum())
    assert carat.drift_edges[0] < carat.min and carat.drift_edges[-1] > carat.max
    assert carat.values == []  # many distinct values: compared by distance, not by value
    assert doors.values == [2.0, 4.0, 5.0] and doors.value_counts == [1, 2, 3]
    assert type(profile).from_json(profile.to_json()) == profile
