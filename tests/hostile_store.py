"""A registry whose every free-text field holds Markdown and HTML pointing at a loopback address (issue #15, point 6).

A team registers a model with plain MLflow code; its experiment name, run names, run tags, params, the
model's and its versions' descriptions and version tags (``loupe.estimator``, ``validation_status``,
``loupe.unit``, any other) all hold ``![x](http://127.0.0.1:PORT/img.png)``, ``[link](http://127.0.0.1:PORT/l)`` or an
``<img>`` tag. A page that rendered any of them would make the browser fetch from PORT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MODEL = "plain-text-model"


@dataclass(frozen=True)
class Hostile:
    """The texts that must stay text, for one listener port."""

    port: int

    @property
    def image(self) -> str:
        return f"![x](http://127.0.0.1:{self.port}/img.png)"

    @property
    def link(self) -> str:
        return f"[link](http://127.0.0.1:{self.port}/l)"

    @property
    def html(self) -> str:
        return f'<img src="http://127.0.0.1:{self.port}/h.png">'

    @property
    def both(self) -> str:
        return f"{self.image} {self.link}"

    def batch_csv(self, rows: int = 6) -> str:
        """A CSV for Predict: a column header and values holding the texts (one row's carat is refused)."""
        frame = pd.DataFrame(
            {
                "carat": [f"{0.5 + index / 10:g}" for index in range(rows)],
                "cut": [self.image if index % 2 else self.link for index in range(rows)],
                self.image: [self.link] * rows,
            }
        )
        frame.loc[rows - 1, "carat"] = self.both  # a rejected row names its value
        return frame.to_csv(index=False)


def register_hostile_model(tracking_uri: str, *, artifacts: Path, hostile: Hostile) -> None:
    """Two versions of ``MODEL`` (pyfunc: carat × 100, ``cut`` taken as text), champion v1, challenger v2,
    and a run without a model, every free text holding ``hostile``'s Markdown and HTML."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.tracking import MlflowClient
    from mlflow.types import ColSpec, Schema

    class Priced(mlflow.pyfunc.PythonModel):  # defined here, so cloudpickle stores it by value
        def predict(self, context, model_input, params=None):
            return pd.DataFrame(model_input)["carat"].astype(float).to_numpy() * 100.0

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "carat"), ColSpec("string", "cut")]),
        outputs=Schema([ColSpec("double", "price")]),
    )
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment_id = client.create_experiment(f"team {hostile.image}", artifact_location=artifacts.as_uri())
        uris = []
        for number, rmse in ((1, 41.5), (2, 39.0)):
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"{hostile.image} run {number}"):
                mlflow.set_tags({"estimator_name": f"{hostile.image} {hostile.html}", "note": hostile.link})
                mlflow.log_params({"alpha": f"{hostile.both} {number}", "kernel": f"{hostile.html} {number}"})
                mlflow.log_metrics({"rmse": rmse, "mae": rmse * 0.8})
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=Priced(), signature=signature, pip_requirements=["mlflow"]
                )
                uris.append(info.model_uri)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{hostile.link} params only"):
            mlflow.set_tag("team.note", hostile.both)
            mlflow.log_params({"alpha": hostile.image, "kernel": hostile.html})
            mlflow.log_metric("rmse", 45.0)

        client.create_registered_model(MODEL, description=f"model {hostile.both}")
        for version, uri in enumerate(uris, start=1):
            assert int(mlflow.register_model(uri, MODEL).version) == version
            client.update_model_version(MODEL, str(version), description=f"version {hostile.both}")
            for key, value in (
                ("loupe.estimator", hostile.image),
                ("validation_status", hostile.link),
                ("team.note", hostile.html),
                ("loupe.unit", hostile.link),
            ):
                client.set_model_version_tag(MODEL, str(version), key, value)
        client.set_registered_model_alias(MODEL, "champion", "1")
        client.set_registered_model_alias(MODEL, "challenger", "2")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
