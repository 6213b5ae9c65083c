"""Compiled class probabilities equal ``predict_proba`` for every classifier the compiler accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from core.serving.compiled_classifier import compile_classifier, compile_verified_classifier
from core.serving.compiled_pipeline import Unsupported
from tests.team_classifiers import breast_cancer_frame, iris_frame


def with_a_level(features: pd.DataFrame) -> pd.DataFrame:
    """The features plus a categorical column, so encoders are compiled too."""
    out = features.copy()
    out["site"] = np.where(np.arange(len(out)) % 3 == 0, "north", "south")
    return out


def pipeline(final, features: pd.DataFrame):
    numeric = [column for column in features.columns if column != "site"]
    encode = ColumnTransformer(
        [("numbers", StandardScaler(), numeric), ("site", OneHotEncoder(handle_unknown="ignore"), ["site"])]
    )
    return make_pipeline(encode, final)


CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=2000),
    "logistic-no-intercept": lambda: LogisticRegression(fit_intercept=False, C=0.5, max_iter=2000),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=8, random_state=0),
    "tree": lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
}
DATA = {"binary": breast_cancer_frame, "multiclass": iris_frame}


@pytest.mark.parametrize("kind", list(DATA))
@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_compiled_probabilities_equal_predict_proba_on_unseen_rows(kind: str, name: str) -> None:
    features, labels = DATA[kind]()
    features = with_a_level(features)
    train = np.arange(len(features)) % 4 != 0
    model = pipeline(CLASSIFIERS[name](), features).fit(features[train], labels[train])
    unseen = features[~train]

    compiled, path = compile_verified_classifier(model, features[train].head(30))

    assert compiled is not None, path
    got = np.array([compiled.probabilities(record) for record in unseen.to_dict("records")])
    np.testing.assert_allclose(got, model.predict_proba(unseen), rtol=1e-9, atol=1e-12)


def test_a_record_the_compiled_form_cannot_encode_is_left_to_the_model() -> None:
    features, labels = breast_cancer_frame()
    features = with_a_level(features)
    model = pipeline(LogisticRegression(max_iter=2000), features).fit(features, labels)
    compiled = compile_classifier(model)
    record = features.iloc[0].to_dict()

    assert compiled.probabilities(record) is not None
    assert compiled.probabilities({**record, "mean_radius": float("nan")}) is None
    assert compiled.probabilities({**record, "mean_radius": "wide"}) is None


def test_a_classifier_it_does_not_know_is_not_compiled_and_says_why() -> None:
    features, labels = iris_frame()
    model = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(features, labels)

    with pytest.raises(Unsupported, match="KNeighborsClassifier as the final step of a classifier"):
        compile_classifier(model)
    compiled, path = compile_verified_classifier(model, features.head(5))
    assert compiled is None and path == "not compiled: KNeighborsClassifier as the final step of a classifier"
