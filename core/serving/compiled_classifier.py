"""Class probabilities for one record without pandas: a fitted classifier pipeline compiled to arrays.

The same idea, and the same safety, as :mod:`core.serving.compiled_pipeline` (which compiles
everything before the final step): only the classifiers below are compiled, the compiled form is
checked against ``predict_proba`` on probe rows and refused on any disagreement, and a record it
cannot encode exactly returns ``None`` so the model itself answers.

Compiled final steps: ``LogisticRegression`` (binary and multinomial), ``HistGradientBoostingClassifier``
(numeric splits), ``RandomForestClassifier``/``ExtraTreesClassifier``/``DecisionTreeClassifier``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from core.serving.compiled_pipeline import (
    AGREEMENT_RTOL,
    Record,
    Unsupported,
    VectorStep,
    as_tree_input,
    compile_front,
    encoded,
    node_table,
    tree_table,
)

Probabilities = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CompiledClassifier:
    """A fitted classifier pipeline as arrays: record → feature vector → one probability per class."""

    encode: Callable[[Record], np.ndarray]
    steps: tuple[VectorStep, ...]
    probabilities_of: Probabilities
    description: str

    def probabilities(self, record: Record) -> np.ndarray | None:
        """Each class's probability for one record, or ``None`` when only the model can score it exactly."""
        vector = encoded(self.encode, self.steps, record)
        return None if vector is None else self.probabilities_of(vector)


def compile_classifier(model: Any) -> CompiledClassifier:
    """Compile a fitted classifier pipeline; raises :class:`Unsupported` for anything else."""
    encode, steps, final, names = compile_front(model)
    probabilities_of, description = _classifier(final)
    return CompiledClassifier(encode, steps, probabilities_of, " → ".join([*names, description]))


def compile_verified_classifier(model: Any, probe: pd.DataFrame) -> tuple[CompiledClassifier | None, str]:
    """The compiled form if supported and equal to ``model.predict_proba`` on ``probe``; else ``None`` and why."""
    try:
        compiled = compile_classifier(model)
        expected = np.asarray(model.predict_proba(probe), dtype=float)
        compared = 0
        for record, wanted in zip(probe.to_dict("records"), expected, strict=True):
            got = compiled.probabilities(record)
            if got is None:
                continue
            if got.shape != wanted.shape or not np.allclose(got, wanted, rtol=AGREEMENT_RTOL, atol=1e-12):
                return None, f"not compiled: {compiled.description} disagreed with predict_proba on the probe rows"
            compared += 1
    except Unsupported as reason:
        return None, f"not compiled: {reason}"
    except Exception as error:  # e.g. a scikit-learn release that moved a private attribute
        return None, f"not compiled: {type(error).__name__}: {error}"
    if not compared:  # declining every row would check nothing
        return None, "not compiled: the probe rows could not be encoded"
    return compiled, f"compiled: {compiled.description}"


def _classifier(final: Any) -> tuple[Probabilities, str]:
    if isinstance(final, LogisticRegression):
        return _logistic(final), "LogisticRegression"
    if isinstance(final, HistGradientBoostingClassifier):
        return _hist_gradient_boosting(final)
    if isinstance(final, RandomForestClassifier | ExtraTreesClassifier):
        return _forest([tree.tree_ for tree in final.estimators_], type(final).__name__)
    if isinstance(final, DecisionTreeClassifier):
        return _forest([final.tree_], "DecisionTreeClassifier")
    raise Unsupported(f"{type(final).__name__} as the final step of a classifier")


def _logistic(model: LogisticRegression) -> Probabilities:
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: one decision function, the second class's log-odds

        def binary(vector: np.ndarray) -> np.ndarray:
            positive = float(expit(vector @ coef[0] + intercept[0]))
            return np.array([1.0 - positive, positive])

        return binary
    # Several classes: multinomial (the only multiclass scheme scikit-learn's LogisticRegression has left;
    # an older one-vs-rest model would disagree on the probe rows and be refused).
    return lambda vector: softmax(coef @ vector + intercept)


def _hist_gradient_boosting(model: HistGradientBoostingClassifier) -> tuple[Probabilities, str]:
    if getattr(model, "_preprocessor", None) is not None or (
        model.is_categorical_ is not None and np.any(model.is_categorical_)
    ):
        raise Unsupported("HistGradientBoostingClassifier with native categorical features")
    per_iteration = model.n_trees_per_iteration_
    tables = []
    for k in range(per_iteration):
        predictors = [iteration[k] for iteration in model._predictors]
        nodes = np.concatenate([predictor.nodes for predictor in predictors])
        tables.append(
            node_table(
                sizes=[len(predictor.nodes) for predictor in predictors],
                feature=nodes["feature_idx"],
                threshold=nodes["num_threshold"],
                left=nodes["left"],
                right=nodes["right"],
                is_leaf=nodes["is_leaf"],
                value=nodes["value"],
                depth=int(nodes["depth"].max()),
            )
        )
    baseline = np.ravel(np.asarray(model._baseline_prediction, dtype=np.float64))

    def probabilities(vector: np.ndarray) -> np.ndarray:
        raw = baseline + np.array([table.leaf_values(vector).sum() for table in tables])
        if per_iteration == 1:
            positive = float(expit(raw[0]))
            return np.array([1.0 - positive, positive])
        return softmax(raw)

    trees = per_iteration * len(model._predictors)
    return probabilities, f"HistGradientBoostingClassifier({trees} trees)"


def _forest(trees: list[Any], name: str) -> tuple[Probabilities, str]:
    if any(tree.n_outputs != 1 for tree in trees):
        raise Unsupported(f"{name} with several outputs")
    values = []
    for tree in trees:  # leaf class weights as shares (what each tree's predict_proba reads)
        counts = tree.value[:, 0, :].astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        values.append(np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0))
    table = tree_table(trees, values)

    def probabilities(vector: np.ndarray) -> np.ndarray:
        return table.leaf_values(as_tree_input(vector)).mean(axis=0)

    return probabilities, f"{name}({len(trees)} trees)"
