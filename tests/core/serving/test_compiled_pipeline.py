"""The compiled one-record path must give ``predict``'s answers, or decline and leave it to ``predict``."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from core.serving.compiled_pipeline import Unsupported, agrees, compile_pipeline, compile_verified

LEVELS = ["low", "mid", "high"]


def dataset(rows: int, *, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.uniform(0.1, 5.0, rows),
            "grade": rng.choice(LEVELS, rows),
            "count": rng.integers(0, 40, rows),
            "ratio": rng.normal(0, 1, rows),
        }
    )
    target = 100 * frame["size"] ** 1.5 * (1 + frame["grade"].map({"low": 0, "mid": 0.5, "high": 1.2}))
    target = target + 3 * frame["count"] + rng.normal(0, 5, rows)
    return frame, target.to_numpy()


def ordinal_then(regressor) -> Pipeline:
    encode = ColumnTransformer(
        [("grade", OrdinalEncoder(categories=[LEVELS]), ["grade"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", encode), ("model", regressor)])


def one_hot_scaled_then(regressor, *, handle_unknown: str = "error") -> Pipeline:
    encode = ColumnTransformer(
        [
            ("grade", OneHotEncoder(categories=[LEVELS], handle_unknown=handle_unknown), ["grade"]),
            ("numbers", StandardScaler(), ["size", "count", "ratio"]),
        ]
    )
    return Pipeline([("preprocess", encode), ("model", regressor)])


FITTED_KINDS = {
    "hgb with log target": lambda: ordinal_then(
        TransformedTargetRegressor(
            regressor=HistGradientBoostingRegressor(max_iter=60, random_state=0), func=np.log, inverse_func=np.exp
        )
    ),
    "hgb with poisson loss": lambda: ordinal_then(
        HistGradientBoostingRegressor(loss="poisson", max_iter=40, random_state=0)
    ),
    "random forest": lambda: ordinal_then(RandomForestRegressor(n_estimators=8, random_state=0)),
    "extra trees": lambda: ordinal_then(ExtraTreesRegressor(n_estimators=5, min_samples_leaf=3, random_state=0)),
    "decision tree": lambda: ordinal_then(DecisionTreeRegressor(max_depth=12, random_state=0)),
    "ridge on one-hot and scaled": lambda: one_hot_scaled_then(Ridge(alpha=0.5)),
    "scaler after the encoder": lambda: Pipeline(
        [*ordinal_then(None).steps[:1], ("scale", StandardScaler()), ("model", LinearRegression())]
    ),
}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    train, target = dataset(1_500, seed=1)
    unseen, _ = dataset(300, seed=2)
    return train, target, unseen


@pytest.mark.parametrize("kind", list(FITTED_KINDS))
def test_compiled_answers_match_predict_on_unseen_rows(kind, data) -> None:
    train, target, unseen = data
    pipeline = FITTED_KINDS[kind]().fit(train, target)

    compiled = compile_pipeline(pipeline)
    answers = [compiled.predict(record) for record in unseen.to_dict("records")]

    np.testing.assert_allclose(answers, pipeline.predict(unseen), rtol=1e-9, atol=0)


def test_a_regressor_fitted_on_a_numeric_frame_compiles_without_a_pipeline(data) -> None:
    train, target, unseen = data
    numeric = ["size", "count", "ratio"]
    model = LinearRegression().fit(train[numeric], target)

    compiled = compile_pipeline(model)

    assert compiled.predict(unseen[numeric].iloc[0].to_dict()) == pytest.approx(model.predict(unseen[numeric])[0])


def test_values_only_the_pipeline_can_handle_are_declined(data) -> None:
    train, target, unseen = data
    compiled = compile_pipeline(FITTED_KINDS["random forest"]().fit(train, target))
    record = unseen.iloc[0].to_dict()

    assert compiled.predict(record) is not None
    assert compiled.predict({**record, "grade": "unheard-of"}) is None
    assert compiled.predict({**record, "size": float("nan")}) is None
    assert compiled.predict({**record, "count": "twelve"}) is None
    assert compiled.predict({key: value for key, value in record.items() if key != "ratio"}) is None


def test_an_ignored_unknown_level_is_scored_as_all_zeros_like_the_pipeline(data) -> None:
    train, target, unseen = data
    pipeline = one_hot_scaled_then(Ridge(), handle_unknown="ignore").fit(train, target)
    record = {**unseen.iloc[0].to_dict(), "grade": "unheard-of"}

    answer = compile_pipeline(pipeline).predict(record)

    assert answer == pytest.approx(pipeline.predict(pd.DataFrame([record]))[0], rel=1e-9)


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: ordinal_then(KNeighborsRegressor()), "KNeighborsRegressor as the final step"),
        (
            lambda: Pipeline([*ordinal_then(None).steps[:1], ("poly", PolynomialFeatures()), ("m", Ridge())]),
            "PolynomialFeatures as a pipeline step",
        ),
        (
            lambda: Pipeline(
                [
                    ("preprocess", ColumnTransformer([("poly", PolynomialFeatures(), ["size"])])),
                    ("model", Ridge()),
                ]
            ),
            "PolynomialFeatures inside the ColumnTransformer",
        ),
    ],
)
def test_steps_it_does_not_know_are_refused_by_name(build, named, data) -> None:
    train, target, unseen = data
    pipeline = build().fit(train, target)

    with pytest.raises(Unsupported, match=named):
        compile_pipeline(pipeline)
    compiled, reason = compile_verified(pipeline, unseen)
    assert compiled is None and reason == f"not compiled: {named}"


def test_native_categorical_boosting_is_refused(data) -> None:
    train, target, _ = data
    frame = train.astype({"grade": "category"})
    model = HistGradientBoostingRegressor(max_iter=10, categorical_features="from_dtype").fit(frame, target)

    with pytest.raises(Unsupported, match="native categorical"):
        compile_pipeline(model)


def test_agreement_check_catches_a_compiled_form_that_is_off_by_a_little(data) -> None:
    train, target, unseen = data
    pipeline = FITTED_KINDS["hgb with log target"]().fit(train, target)
    compiled = compile_pipeline(pipeline)
    slightly_off = replace(compiled, regress=lambda vector: compiled.regress(vector) * (1 + 1e-7))

    assert agrees(compiled, pipeline, unseen)
    assert not agrees(slightly_off, pipeline, unseen)


def test_agreement_needs_at_least_one_row_the_compiled_form_scores(data) -> None:
    train, target, unseen = data
    pipeline = FITTED_KINDS["random forest"]().fit(train, target)
    compiled = compile_pipeline(pipeline)
    missing_sizes = unseen.assign(size=np.nan)  # the forest takes NaN; the compiled form declines it

    assert not agrees(compiled, pipeline, missing_sizes)


def test_compile_verified_names_what_it_compiled(data) -> None:
    train, target, unseen = data
    pipeline = FITTED_KINDS["hgb with log target"]().fit(train, target)

    compiled, reason = compile_verified(pipeline, unseen)

    assert compiled is not None
    assert reason == (
        "compiled: ColumnTransformer → TransformedTargetRegressor(HistGradientBoostingRegressor(60 trees))"
    )


def test_trees_see_inputs_in_float32_as_scikit_learn_does() -> None:
    tree = DecisionTreeRegressor().fit(pd.DataFrame({"size": [0.1, 0.3]}), [0.0, 1.0])
    threshold = tree.tree_.threshold[0]
    # Just above the float64 threshold, but float32 rounds it back below: scikit-learn goes left.
    value = float(np.nextafter(threshold, np.inf))

    answer = compile_pipeline(tree).predict({"size": value})

    assert np.float32(value) <= threshold < value
    assert answer == tree.predict(pd.DataFrame({"size": [value]}))[0] == 0.0
