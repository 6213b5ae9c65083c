"""What a version does — regression or classification — worked out without loading its model.

The pre-flight must know whether to compare answers as numbers or as classes, and loading a model
(minutes for a large one, impossible when its artifacts are gone) only to learn that would be wrong.
"""

from __future__ import annotations

from core.mlflow_io import VersionInfo
from core.registry.metric_names import task_of_metrics
from core.task import TASK_TAG, Task, parse_task
from storage.evidence import VersionEvidence


def version_task(version: VersionInfo, evidence: VersionEvidence | None = None) -> Task | None:
    """The version's task from what is already known about it; ``None`` when nothing tells.

    In this order, the first that tells wins:

    1. the ``loupe.task`` version tag — the team's own word, which serving also reads first;
    2. the prediction log — answers that carry a class (``label``) were a classifier's; answers without
       any class were a regressor's (serving detected the task from the model when it answered);
    3. the run's holdout metric names — only regression figures, or only classification ones.
    """
    tagged = parse_task(version.tags.get(TASK_TAG))
    if tagged is not None:
        return tagged
    if evidence is not None and evidence.predictions:
        return "classification" if evidence.labelled_predictions else "regression"
    return task_of_metrics(version.metrics)


def pair_task(candidate: Task | None, holder: Task | None) -> Task:
    """The task two versions are compared as: the candidate's, else the holder's, else regression (the default)."""
    return candidate or holder or "regression"
