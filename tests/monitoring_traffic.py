"""Diamonds traffic written straight to the prediction log, for Monitoring tests and the drift command's."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from core.dataset import load_diamonds
from core.monitoring.simulator import bulk_log, simulated_latencies
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback


def seed_traffic(settings, *, rows: int, start: datetime, hours: float, shift: float, version: int = 1, seed: int = 0):
    """Diamonds rows (carat × shift, or the first five numerics × -shift when negative) logged for ``version``."""
    rng = np.random.default_rng(seed)
    data = load_diamonds().sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    features = data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str})
    for name in ("carat",) if shift > 0 else ("carat", "depth", "table", "x", "y"):
        features[name] = features[name] * abs(shift)
    stamps = [start + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * hours * 3600]
    predictions = data["price"].to_numpy() * rng.normal(1.0, 0.1, rows)
    latencies = simulated_latencies(rows, rng=rng)
    ood = rng.random(rows) < 0.05
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        ids = bulk_log(
            session,
            features=features,
            predictions=predictions,
            timestamps=stamps,
            model_name=settings.model_name,
            model_version=version,
            latency_ms=latencies,
            actuals=data["price"].to_numpy(float),
            label_share=0.5,
            is_ood=ood,
            seed=seed,
        )
        labelled = set(session.scalars(select(Feedback.prediction_id).where(Feedback.prediction_id.in_(ids))))
    engine.dispose()
    frame = features.assign(
        id=ids, prediction=predictions, latency=latencies, ood=ood, actual=data["price"].to_numpy(), at=stamps
    )
    frame["labelled"] = frame["id"].isin(labelled)
    return frame
