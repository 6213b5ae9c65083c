"""What a model does: regression (a number per row) or classification (a class per row).

The task is read from the model itself (see :func:`core.serving.answers.detect_task`); a version tag
``loupe.task`` settles it for a pyfunc model that cannot say.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Task = Literal["regression", "classification"]
TASKS: tuple[Task, ...] = ("regression", "classification")
TASK_TAG = "loupe.task"  # a version tag naming the task, for models that cannot tell it themselves
PROBABILITY_PREFIX = "proba_"  # batch output and CLI files: one column per class, ``proba_<class>``


def parse_task(text: str | None) -> Task | None:
    """A tag's value as a task, or ``None`` when it names none (case and spaces ignored)."""
    value = (text or "").strip().lower()
    return value if value in TASKS else None


def class_text(value: object) -> str:
    """A class as the log, roll-ups, feedback and files write it.

    Integers written as floats by a CSV reader (``1.0``) name the same class as ``1``; booleans are
    ``True``/``False``; everything else is its ``str``.
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
