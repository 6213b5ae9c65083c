"""Score one record without pandas: a fitted scikit-learn pipeline compiled to plain numpy arrays.

Why: for a single row, scikit-learn's per-call machinery costs far more than the arithmetic. A
``ColumnTransformer`` on a one-row DataFrame takes ~4 ms here, and ``HistGradientBoostingRegressor``
walks its 800 trees one Python call at a time (~7 ms). The answering path scores one record, so each
loaded version is compiled once: encoders become dict lookups, a tree ensemble becomes one flat node
table walked for all trees at once (~0.4 ms for the demo champion).

Safety: only the steps below are compiled; anything else raises :class:`Unsupported` and the version is
served by ``pipeline.predict`` as before. :func:`compile_verified` also checks the compiled form
against ``pipeline.predict`` on probe rows and refuses it on any disagreement. A record the compiled
form cannot score exactly (a missing value, an unseen level) returns ``None`` so the caller falls
back to the pipeline, which then behaves exactly as it would have.

Compiled: ``Pipeline``; ``ColumnTransformer`` with ``OrdinalEncoder``, ``OneHotEncoder``,
``StandardScaler``, ``"passthrough"`` and ``"drop"``; ``StandardScaler`` after it; and as the final
step ``HistGradientBoostingRegressor`` (numeric splits), random forests / extra trees / decision
trees (one output), linear models, each optionally inside ``TransformedTargetRegressor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

LINEAR_MODELS = (LinearRegression, Ridge, Lasso, ElasticNet)
FORESTS = (RandomForestRegressor, ExtraTreesRegressor)
# Summation order differs from scikit-learn's (pairwise vs tree by tree): allow a few ulps, no more.
AGREEMENT_RTOL = 1e-9

Record = Mapping[str, object]
Encoder = Callable[[Record], list[float]]
VectorStep = Callable[[np.ndarray], np.ndarray]


class Unsupported(Exception):
    """The pipeline holds a step this module does not compile; it is served by ``predict`` instead."""


class _NotEncodable(Exception):
    """This record needs the pipeline itself (a value the compiled encoders cannot map exactly)."""


@dataclass(frozen=True)
class CompiledPipeline:
    """A fitted pipeline as arrays: record → feature vector → prediction, in well under a millisecond."""

    encode: Callable[[Record], np.ndarray]
    steps: tuple[VectorStep, ...]
    regress: Callable[[np.ndarray], float]
    description: str

    def predict(self, record: Record) -> float | None:
        """The prediction for one record, or ``None`` when only the pipeline can score it exactly."""
        vector = encoded(self.encode, self.steps, record)
        return None if vector is None else self.regress(vector)


def compile_pipeline(model: Any) -> CompiledPipeline:
    """Compile a fitted pipeline (or bare regressor fitted on a DataFrame); raises :class:`Unsupported`."""
    encode, steps, final, names = compile_front(model)
    regress, description = _regressor(final)
    return CompiledPipeline(encode=encode, steps=steps, regress=regress, description=" → ".join([*names, description]))


def compile_front(
    model: Any,
) -> tuple[Callable[[Record], np.ndarray], tuple[VectorStep, ...], Any, list[str]]:
    """Everything before the final estimator, compiled: the record encoder, the vector steps, the final
    estimator itself and the names of the compiled steps (raises :class:`Unsupported`)."""
    stages = list(model.steps) if isinstance(model, Pipeline) else [("model", model)]
    stages = [(name, step) for name, step in stages if step not in (None, "passthrough")]
    if not stages:
        raise Unsupported("the pipeline is empty")
    *transformers, (_, final) = stages
    if transformers and isinstance(transformers[0][1], ColumnTransformer):
        encode = _column_transformer(transformers[0][1])
        transformers = transformers[1:]
    else:
        encode = _plain_columns(_input_names(transformers[0][1] if transformers else final))
    steps = tuple(_vector_step(step) for _, step in transformers)
    return encode, steps, final, [type(step).__name__ for _, step in stages[:-1]]


def encoded(encode: Callable[[Record], np.ndarray], steps: Sequence[VectorStep], record: Record) -> np.ndarray | None:
    """The record as the final estimator's input vector, or ``None`` when only the pipeline can encode it."""
    try:
        vector = encode(record)
    except _NotEncodable:
        return None
    if not np.isfinite(vector).all():  # missing values follow per-model rules left to the pipeline
        return None
    for step in steps:
        vector = step(vector)
    return vector


def agrees(compiled: CompiledPipeline, model: Any, frame: pd.DataFrame, *, rtol: float = AGREEMENT_RTOL) -> bool:
    """Whether the compiled form scores rows of ``frame`` and gives ``model.predict``'s answer on each it scores."""
    expected = np.asarray(model.predict(frame), dtype=float).reshape(len(frame), -1)[:, 0]
    compared = 0
    for record, wanted in zip(frame.to_dict("records"), expected, strict=True):
        got = compiled.predict(record)
        if got is None:
            continue
        if not np.isclose(got, wanted, rtol=rtol, atol=0.0):
            return False
        compared += 1
    return compared > 0  # declining every row would check nothing


def compile_verified(model: Any, probe: pd.DataFrame) -> tuple[CompiledPipeline | None, str]:
    """The compiled form if it is supported and agrees with ``model`` on ``probe``; else ``None`` and why."""
    try:
        compiled = compile_pipeline(model)
        agreed = agrees(compiled, model, probe)
    except Unsupported as reason:
        return None, f"not compiled: {reason}"
    except Exception as error:  # e.g. a scikit-learn release that moved a private attribute
        return None, f"not compiled: {type(error).__name__}: {error}"
    if not agreed:
        return None, f"not compiled: {compiled.description} disagreed with predict on the probe rows"
    return compiled, f"compiled: {compiled.description}"


# --- record → vector --------------------------------------------------------------------------------


def _input_names(step: Any) -> list[str]:
    names = getattr(step, "feature_names_in_", None)
    if names is None:
        raise Unsupported(f"{type(step).__name__} was fitted without column names")
    return [str(name) for name in names]


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise _NotEncodable from error


def _plain_columns(names: Sequence[str]) -> Callable[[Record], np.ndarray]:
    def encode(record: Record) -> np.ndarray:
        return np.array([_number(record.get(name)) for name in names], dtype=np.float64)

    return encode


def _column_names(columns: Any, all_names: list[str]) -> list[str]:
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    if isinstance(columns, slice):
        return all_names[columns]
    columns = list(columns)
    if columns and all(isinstance(column, bool | np.bool_) for column in columns):
        return [name for name, keep in zip(all_names, columns, strict=True) if keep]
    return [all_names[int(column)] if isinstance(column, int | np.integer) else str(column) for column in columns]


def _column_transformer(transformer: ColumnTransformer) -> Callable[[Record], np.ndarray]:
    all_names = _input_names(transformer)
    encoders: list[Encoder] = []
    for _, step, columns in transformer.transformers_:
        names = _column_names(columns, all_names)
        if step == "drop" or not names:
            continue
        encoders.append(_encoder(step, names))

    def encode(record: Record) -> np.ndarray:
        values: list[float] = []
        for encoder in encoders:
            values.extend(encoder(record))
        return np.array(values, dtype=np.float64)

    return encode


def _encoder(step: Any, names: list[str]) -> Encoder:
    # A fitted ColumnTransformer keeps "passthrough" as an identity FunctionTransformer.
    if step == "passthrough" or (isinstance(step, FunctionTransformer) and step.func is None):
        return lambda record: [_number(record.get(name)) for name in names]
    if isinstance(step, OrdinalEncoder):
        return _ordinal_encoder(step, names)
    if isinstance(step, OneHotEncoder):
        return _one_hot_encoder(step, names)
    if isinstance(step, StandardScaler):
        scale = _vector_step(step)
        return lambda record: scale(np.array([_number(record.get(name)) for name in names])).tolist()
    raise Unsupported(f"{type(step).__name__} inside the ColumnTransformer")


def _ordinal_encoder(step: OrdinalEncoder, names: list[str]) -> Encoder:
    if getattr(step, "_infrequent_enabled", False):
        raise Unsupported("OrdinalEncoder with infrequent categories")
    codes = [{level: float(code) for code, level in enumerate(levels.tolist())} for levels in step.categories_]

    def encode(record: Record) -> list[float]:
        try:
            return [mapping[record.get(name)] for name, mapping in zip(names, codes, strict=True)]
        except (KeyError, TypeError) as error:  # unseen level: the pipeline decides (error or unknown_value)
            raise _NotEncodable from error

    return encode


def _one_hot_encoder(step: OneHotEncoder, names: list[str]) -> Encoder:
    if getattr(step, "_infrequent_enabled", False) or step.drop_idx_ is not None:
        raise Unsupported("OneHotEncoder with drop or infrequent categories")
    positions = [{level: index for index, level in enumerate(levels.tolist())} for levels in step.categories_]
    ignore_unknown = step.handle_unknown in ("ignore", "infrequent_if_exist")

    def encode(record: Record) -> list[float]:
        values: list[float] = []
        for name, mapping in zip(names, positions, strict=True):
            hot = [0.0] * len(mapping)
            try:
                hot[mapping[record.get(name)]] = 1.0
            except (KeyError, TypeError) as error:
                if not ignore_unknown:
                    raise _NotEncodable from error
            values.extend(hot)
        return values

    return encode


def _vector_step(step: Any) -> VectorStep:
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None
        if getattr(step, "n_features_in_", None) is None:
            raise Unsupported("StandardScaler is not fitted")

        def standardise(vector: np.ndarray) -> np.ndarray:
            out = vector - mean if mean is not None else vector
            return out / scale if scale is not None else out

        return standardise
    raise Unsupported(f"{type(step).__name__} as a pipeline step")


# --- vector → prediction ----------------------------------------------------------------------------


def _regressor(final: Any) -> tuple[Callable[[np.ndarray], float], str]:
    if isinstance(final, TransformedTargetRegressor):
        inner, description = _regressor(final.regressor_)
        inverse = _inverse_target(final.transformer_)
        return (lambda vector: inverse(inner(vector))), f"TransformedTargetRegressor({description})"
    if isinstance(final, HistGradientBoostingRegressor):
        return _hist_gradient_boosting(final)
    if isinstance(final, FORESTS):
        return _tree_ensemble([tree.tree_ for tree in final.estimators_], type(final).__name__)
    if isinstance(final, DecisionTreeRegressor):
        return _tree_ensemble([final.tree_], "DecisionTreeRegressor")
    if isinstance(final, LINEAR_MODELS):
        coef = np.asarray(final.coef_, dtype=np.float64)
        if coef.ndim != 1:
            raise Unsupported(f"{type(final).__name__} with several outputs")
        intercept = float(np.ravel(final.intercept_)[0]) if np.ndim(final.intercept_) else float(final.intercept_)
        return (lambda vector: float(vector @ coef + intercept)), type(final).__name__
    raise Unsupported(f"{type(final).__name__} as the final step")


def _inverse_target(transformer: Any) -> Callable[[float], float]:
    if isinstance(transformer, FunctionTransformer):
        function = transformer.inverse_func
        keywords = transformer.inv_kw_args or {}
        if function is None:
            return lambda value: value
        return lambda value: float(np.ravel(function(np.array([[value]]), **keywords))[0])
    return lambda value: float(np.ravel(transformer.inverse_transform(np.array([[value]])))[0])


@dataclass(frozen=True)
class NodeTable:
    """Every tree's nodes in one table; leaves point to themselves, so all trees walk in lock step."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    def leaf_values(self, vector: np.ndarray) -> np.ndarray:
        node = self.roots
        for _ in range(self.depth):
            node = np.where(vector[self.feature[node]] <= self.threshold[node], self.left[node], self.right[node])
        return self.value[node]


def node_table(*, sizes: list[int], feature, threshold, left, right, is_leaf, value, depth: int) -> NodeTable:
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    shift = np.repeat(offsets, sizes)
    nodes = np.arange(int(sum(sizes)), dtype=np.intp)
    is_leaf = np.asarray(is_leaf, dtype=bool)
    left = np.where(is_leaf, nodes, np.asarray(left, dtype=np.intp) + shift)
    right = np.where(is_leaf, nodes, np.asarray(right, dtype=np.intp) + shift)
    return NodeTable(
        roots=offsets,
        feature=np.where(is_leaf, 0, np.asarray(feature, dtype=np.intp)),
        threshold=np.where(is_leaf, np.inf, np.asarray(threshold, dtype=np.float64)),
        left=left,
        right=right,
        value=np.asarray(value, dtype=np.float64),
        depth=int(depth),
    )


def _hist_gradient_boosting(model: HistGradientBoostingRegressor) -> tuple[Callable[[np.ndarray], float], str]:
    if model.n_trees_per_iteration_ != 1:
        raise Unsupported("HistGradientBoostingRegressor with several trees per iteration")
    if getattr(model, "_preprocessor", None) is not None or (
        model.is_categorical_ is not None and np.any(model.is_categorical_)
    ):
        raise Unsupported("HistGradientBoostingRegressor with native categorical features")
    predictors = [predictor for iteration in model._predictors for predictor in iteration]
    nodes = np.concatenate([predictor.nodes for predictor in predictors])
    table = node_table(
        sizes=[len(predictor.nodes) for predictor in predictors],
        feature=nodes["feature_idx"],
        threshold=nodes["num_threshold"],
        left=nodes["left"],
        right=nodes["right"],
        is_leaf=nodes["is_leaf"],
        value=nodes["value"],
        depth=int(nodes["depth"].max()),
    )
    baseline = float(np.ravel(model._baseline_prediction)[0])
    inverse_link = model._loss.link.inverse

    def regress(vector: np.ndarray) -> float:
        raw = baseline + table.leaf_values(vector).sum()
        return float(inverse_link(np.array([raw]))[0])

    return regress, f"HistGradientBoostingRegressor({len(predictors)} trees)"


def tree_table(trees: list[Any], values: list[np.ndarray]) -> NodeTable:
    """Fitted scikit-learn trees (``tree_`` objects) as one node table, with ``values`` as their leaves' values."""
    return node_table(
        sizes=[tree.node_count for tree in trees],
        feature=np.concatenate([tree.feature for tree in trees]),
        threshold=np.concatenate([tree.threshold for tree in trees]),
        left=np.concatenate([tree.children_left for tree in trees]),
        right=np.concatenate([tree.children_right for tree in trees]),
        is_leaf=np.concatenate([tree.children_left == -1 for tree in trees]),
        value=np.concatenate(values),
        depth=max(tree.max_depth for tree in trees),
    )


def as_tree_input(vector: np.ndarray) -> np.ndarray:
    """scikit-learn trees compare float32 inputs against float64 thresholds; so must we."""
    return vector.astype(np.float32).astype(np.float64)


def _tree_ensemble(trees: list[Any], name: str) -> tuple[Callable[[np.ndarray], float], str]:
    if any(tree.n_outputs != 1 for tree in trees):
        raise Unsupported(f"{name} with several outputs")
    table = tree_table(trees, [tree.value[:, 0, 0] for tree in trees])

    def regress(vector: np.ndarray) -> float:
        return float(table.leaf_values(as_tree_input(vector)).mean())

    return regress, f"{name}({len(trees)} trees)"
