"""Multivariate drift's per-row reconstruction error stays finite, without a RuntimeWarning, whatever a log holds.

Inputs are clipped to the reference's widened range before standardising (as the drift bins clip a bin's mean), so
a logged 1e308 or inf is still far out of the band, but neither overflows to inf nor turns into nan.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from core.dataset import load_diamonds
from core.monitoring.multivariate import reconstruction_errors
from core.profile import build_profile

ABSURD = {"carat": 1e308, "depth": math.inf, "x": -1e308, "y": -math.inf, "table": 4.9e-324, "z": 1e300}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    data = load_diamonds().sample(3_000, random_state=0).drop(columns=["price"])
    return data.astype({"cut": str, "color": str, "clarity": str}).reset_index(drop=True)


def poisoned(reference: pd.DataFrame) -> pd.DataFrame:
    rows = reference.sample(len(ABSURD), random_state=1).reset_index(drop=True)
    for position, (name, value) in enumerate(ABSURD.items()):
        rows.loc[position, name] = value  # one absurd input per row
    return rows


def test_absurd_rows_give_finite_errors_far_beyond_the_band_and_no_runtime_warning(reference) -> None:
    fit = build_profile(reference).multivariate
    assert fit is not None
    clean = reference.sample(200, random_state=2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # -W error::RuntimeWarning
        absurd = reconstruction_errors(fit, poisoned(reference))
        typical = reconstruction_errors(fit, clean)

    assert np.isfinite(absurd).all() and np.isfinite(typical).all()
    assert absurd.min() > fit["upper"]  # each absurd row alone is still far out of the reference's band
    assert absurd.min() > np.quantile(typical, 0.9)


def test_rows_within_the_reference_are_not_changed_by_the_clip(reference) -> None:
    fit = build_profile(reference).multivariate
    assert fit is not None
    unclipped = {key: value for key, value in fit.items() if key != "numeric_bounds"}
    clean = reference.sample(500, random_state=3)

    assert reconstruction_errors(fit, clean) == pytest.approx(reconstruction_errors(unclipped, clean))


def test_a_fit_stored_before_it_recorded_its_bounds_is_finite_and_warning_free_too(reference) -> None:
    fit = build_profile(reference).multivariate
    assert fit is not None and "numeric_bounds" in fit
    older = {key: value for key, value in fit.items() if key != "numeric_bounds"}

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        errors = reconstruction_errors(older, poisoned(reference))

    assert np.isfinite(errors).all() and errors.min() > fit["upper"]
