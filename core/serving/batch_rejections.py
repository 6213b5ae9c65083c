"""A batch's refusals, kept up to a cap and counted beyond it, so a junk file cannot grow the log or a file by gigabytes.

Kept: the first ``settings.rejections_per_batch`` refusals (one per row and field, or one per malformed
line), each message quoting at most :data:`QUOTED_CHARS` characters of a value, and the refused row's
cells cut to :data:`CELL_CHARS` for the rejected-rows file (at most :data:`INPUT_BUDGET` characters
in all). Beyond the cap, only counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from core.csv_export import write_csv_chunk
from core.serving.batch_reader import LINE_RULE_FIELD, Malformed
from storage.base import utcnow

COLUMNS = ["row", "field", "rule", "message"]
QUOTED_CHARS = 80  # of a refused value, in a message
MESSAGE_CHARS = 400  # any message longer than this is cut in the middle (values quoted another way)
CELL_CHARS = 200  # of each cell of a refused row, in the rejected-rows file
INPUT_BUDGET = 16 * 1024 * 1024  # characters of refused rows' cells kept in all


def clip_message(message: str, value: object = None) -> str:
    """``message`` with a long quoted ``value`` cut to :data:`QUOTED_CHARS` characters (its length said)."""
    if isinstance(value, str):
        value = value.strip()
        if len(value) > QUOTED_CHARS:
            quoted = repr(value)
            if quoted in message:
                message = message.replace(
                    quoted, f"{quoted[: QUOTED_CHARS + 1]}…{quoted[-1]} ({len(value):,} characters)"
                )
    if len(message) > MESSAGE_CHARS:
        cut = len(message) - MESSAGE_CHARS
        message = f"{message[: MESSAGE_CHARS - 60]} … [{cut:,} characters cut] … {message[-60:]}"
    return message


def _cell(value: object) -> object:
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return f"{value[:CELL_CHARS]}… ({len(value):,} characters)"
    return value


class Rejections:
    """Refusals of one batch: the first ``cap`` in full, the rest counted."""

    def __init__(self, *, cap: int) -> None:
        self.cap = cap
        self.kept: list[tuple[int, str, str, str]] = []
        self.inputs: list[dict[str, object]] = []
        self.rows = 0  # rows refused (a row refused for two fields counts once)
        self.not_kept = 0  # refusals beyond the cap
        self._budget = INPUT_BUDGET

    def add_malformed(self, lines: list[Malformed]) -> None:
        self.rows += len(lines)
        room = max(self.cap - len(self.kept), 0)
        for line in lines[:room]:
            self.kept.append((line.row, LINE_RULE_FIELD, line.rule, line.message))
            self.inputs.append({})
        self.not_kept += max(len(lines) - room, 0)

    def add_problems(self, problems: pd.DataFrame, frame: pd.DataFrame) -> None:
        """``problems`` from :meth:`InputSchema.validate_frame` (``row``: 1-based position in ``frame``)."""
        if problems.empty:
            return
        self.rows += int(problems["row"].nunique())
        room = max(self.cap - len(self.kept), 0)
        self.not_kept += max(len(problems) - room, 0)
        for position, field_name, rule, message in problems[COLUMNS].head(room).itertuples(index=False):
            cells = frame.iloc[int(position) - 1]
            value = cells.get(field_name) if field_name in frame.columns else None
            self.kept.append((int(frame.index[int(position) - 1]), field_name, rule, clip_message(message, value)))
            inputs: dict[str, object] = {}
            if self._budget > 0:
                inputs = {str(name): _cell(cell) for name, cell in cells.items()}
                self._budget -= sum(len(str(cell)) for cell in inputs.values())
            self.inputs.append(inputs)

    def frame(self) -> pd.DataFrame:
        """The kept refusals: row, field, rule, message."""
        return pd.DataFrame(self.kept, columns=COLUMNS).astype({"row": int})

    def write_beside(self, output: Path) -> Path | None:
        """The kept refusals with their rows' cells in ``NAME.rejected.csv`` beside ``output`` (written whole, then renamed)."""
        if not self.kept:
            return None
        reasons = self.frame()
        cells = pd.DataFrame(self.inputs)
        cells = cells.rename(columns={name: f"input_{name}" for name in cells.columns if name in COLUMNS})
        path = output.with_name(f"{output.stem}.rejected.csv")
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as handle:  # "w": a crashed run's leftover is replaced
                write_csv_chunk(pd.concat([reasons, cells], axis=1), handle, header=True)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path

    def log_rows(self, *, model_name: str, version: int, source: str, request_id: str) -> list[dict[str, object]]:
        """The kept refusals as ``rejections`` rows."""
        now = utcnow()
        return [
            {
                "created_at": now,
                "model_name": model_name,
                "model_version": version,
                "source": source,
                "request_id": request_id,
                "row_number": row,
                "field": field_name[:128],
                "rule": rule[:64],
                "message": message,
            }
            for row, field_name, rule, message in self.kept
        ]

    def summary(self) -> str | None:
        """What the cap left out, for a person; ``None`` when nothing was."""
        if not self.not_kept:
            return None
        return (
            f"{self.not_kept:,} more refusal(s) counted but not kept (the first {self.cap:,} per batch are kept: "
            "LOUPE_REJECTIONS_PER_BATCH)"
        )
