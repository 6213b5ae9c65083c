"""Writing predictions in bulk at the speed of the model: one row per prediction, written with the driver.

Why this shape (measured on a 100k-row batch, issue #14 point 6): with one typed ``prediction_features``
row per input (~9 per prediction) SQLAlchemy spent ~30 s compiling a million parameter sets, and the
batch path ran at 0.13–0.2× of bare ``predict``. Now

- a prediction's inputs are one JSON object in ``predictions.inputs`` (numbers as JSON numbers written
  with ``repr``, so they read back bit for bit; categoricals as strings; missing as ``null``). A frame is
  encoded column by column (one ``%`` format per row), so the per-row Python is a handful of C calls;
- rows go to the DBAPI driver directly, on the session's own connection (same transaction, nothing
  committed): ``executemany`` on SQLite, ``COPY … FROM STDIN`` on PostgreSQL;
- ids are known before the insert, so no ``RETURNING`` round trip: SQLite hands out ``max(id) + 1 …``
  inside the write transaction (``storage.db`` begins it IMMEDIATE, so no other writer can take the
  same ids); PostgreSQL reserves them from the table's sequence with ``nextval`` over ``generate_series``.

Values go through each column's SQLAlchemy bind processor, so what lands in the table is exactly what
an ORM insert would store (UTC datetimes, booleans, floats). Driver errors are re-raised as
SQLAlchemy's (``IntegrityError`` for a duplicate client id), as a Core insert would raise them.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Rows per driver call: keeps memory flat on 200k-row batches and lets callers report progress.
WRITE_CHUNK = 5_000
SQLITE_VARIABLES = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER

InputValue = float | str | None
_PLAIN = (str, float, type(None))
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _plain_input(value: object) -> InputValue:
    """A logged input as JSON-able: text stays text, numbers become floats (as the typed table stored them),
    NaN and infinities become ``null`` (JSON has no word for them; validation refuses them anyway)."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]  # bools and ints were stored as numbers before, too
    return number if math.isfinite(number) else None


def encode_inputs(values: Mapping[str, object] | None) -> str | None:
    """One prediction's inputs as the JSON object stored in ``predictions.inputs`` (``None`` for no inputs)."""
    if values is None:
        return None
    if any(type(value) not in _PLAIN for value in values.values()):
        values = {str(name): _plain_input(value) for name, value in values.items()}
    try:
        return _ENCODE(values)
    except ValueError:  # a NaN or an infinity among plain floats
        return _ENCODE({str(name): _plain_input(value) for name, value in values.items()})


def decode_inputs(text: str | None) -> dict[str, InputValue]:
    """The inputs stored in ``predictions.inputs`` (an empty dict for a row that has none)."""
    # Every logged number is a float (PostgreSQL writes 3.0 as ``3``): read whole numbers as floats too.
    return json.loads(text, parse_int=float) if text else {}


def _json_column(column: pd.Series) -> list[str]:
    """One column's values as JSON literals, vectorised: numbers by ``repr`` (exact), text quoted once per level."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        numbers = column.to_numpy(dtype=float, na_value=np.nan)
        texts = np.array(list(map(repr, numbers.tolist())), dtype=object)
        texts[~np.isfinite(numbers)] = "null"
        return texts.tolist()
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    literals = [encode_inputs({"": _plain_input(level)})[4:-1] for level in levels]  # type: ignore[index]
    table = np.array([*literals, "null"], dtype=object)  # code -1 (missing) picks the last entry
    return table[codes].tolist()


def encode_input_frame(frame: pd.DataFrame) -> list[str]:
    """Each row of ``frame`` as the JSON object :func:`encode_inputs` would write for it (column order kept)."""
    if frame.shape[1] == 0:
        return ["{}"] * len(frame)
    names = [str(name) for name in frame.columns]
    template = "{" + ",".join(json.dumps(name, ensure_ascii=False).replace("%", "%%") + ":%s" for name in names) + "}"
    columns = [_json_column(frame.iloc[:, position]) for position in range(frame.shape[1])]
    return [template % row for row in zip(*columns, strict=True)]


def _is_per_row(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Series)


def _processed(values: Any, processor: Callable[[Any], Any] | None, rows: int) -> Iterable[Any]:
    """A column ready for the driver: per-row values or one repeated value, through the column's bind processor."""
    if not _is_per_row(values):
        return itertools.repeat(processor(values) if processor else values, rows)
    values = values.tolist() if isinstance(values, np.ndarray | pd.Series) else values
    if len(values) != rows:
        raise ValueError(f"a column has {len(values)} values for {rows} rows")
    if processor is None:
        return values
    seen: dict[Any, Any] = {}  # batches repeat their timestamps: process each distinct value once
    out = []
    for value in values:
        try:
            out.append(seen[value])
        except KeyError:
            seen[value] = processed = processor(value)
            out.append(processed)
        except TypeError:  # unhashable
            out.append(processor(value))
    return out


def write_rows(
    session: Session,
    table: Table,
    *,
    columns: Mapping[str, Any],
    rows: int,
    progress: Callable[[int], None] | None = None,
    allot_id: bool = True,
    ready: Collection[str] = (),
) -> list[int]:
    """Insert ``rows`` rows into ``table`` (its integer ``id`` allotted here); returns the ids in row order.

    ``columns`` maps a column name to one value per row (list, tuple, array, Series) or to one value for
    every row. Columns left out get their Python-side default (``created_at`` now, flags false) or NULL.
    ``allot_id=False`` is for a table keyed otherwise (``feedback``, keyed by its prediction): no id is
    allotted and the empty list comes back. Columns named in ``ready`` are already in the driver's form
    (see :func:`driver_datetimes`): their bind processor is skipped.
    """
    unknown = sorted(set(columns) - set(table.c.keys()) | ({"id"} & set(columns)))
    if unknown:
        raise ValueError(f"{table.name} has no writable column(s): {', '.join(unknown)}")
    if rows == 0:
        return []
    session.flush()  # pending ORM rows first, so they keep their place in id order
    connection = session.connection()
    dialect = connection.dialect
    given = dict(columns)
    for column in table.c:
        if column.name not in given and column.name != "id" and column.default is not None:
            default = column.default
            given[column.name] = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
    names = list(given)
    prepared = [
        _processed(
            given[name],
            None if name in ready else table.c[name].type.dialect_impl(dialect).bind_processor(dialect),
            rows,
        )
        for name in names
    ]
    raw: Any = connection.connection.driver_connection  # sqlite3 or psycopg: same connection, same transaction
    base = dialect.loaded_dbapi.Error
    postgres = dialect.name == "postgresql"
    try:
        ids = _reserve_ids(raw, table, rows, dialect.name) if allot_id else []
        keys = ["id", *names] if allot_id else names
        width = len(keys)
        # SQLite: one multi-row INSERT per chunk (a third less work per row than executemany), as many rows
        # as its bound-variable limit allows; PostgreSQL: one COPY per chunk.
        size = WRITE_CHUNK if postgres else max(1, min(WRITE_CHUNK, raw.getlimit(SQLITE_VARIABLES) // width))
        written = 0
        allotted = [ids] if allot_id else []
        for parts in zip(*(_chunked(column, size) for column in [*allotted, *prepared]), strict=True):
            count = len(parts[0])
            if postgres:
                with raw.cursor() as cursor, cursor.copy(_copy_sql(table, keys)) as copy:
                    for row in zip(*parts, strict=True):
                        copy.write_row(row)
            else:
                rows_of_chunk = list(zip(*parts, strict=True))
                start = 0
                for piece in _statement_sizes(count, size):
                    flat = list(itertools.chain.from_iterable(rows_of_chunk[start : start + piece]))
                    raw.execute(_insert_sql(table, keys, piece), flat)
                    start += piece
            written += count
            if progress is not None:
                progress(written)
    except base as error:
        raise DBAPIError.instance(f"bulk insert into {table.name}", None, error, base, dialect=dialect) from error
    return ids


def driver_datetimes(session: Session, table: Table, name: str, values: pd.Series) -> list[str] | None:
    """Aware datetimes as SQLite's driver gets them from column ``name``'s bind processor, computed column-wise
    (one ``strftime`` over the column instead of two Python calls per row: most of a 50k-row chunk's write
    cost went there). ``None`` when no such form is known (PostgreSQL, missing times, another storage
    format): then pass the datetimes themselves and :func:`write_rows` processes them.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or len(values) == 0 or not isinstance(values.dtype, pd.DatetimeTZDtype):
        return None
    if bool(values.isna().any()):
        return None
    texts = values.dt.tz_convert("UTC").dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    # The column's own processor decides: checked on the first and last value, any other format falls back.
    for position in (0, len(values) - 1):
        if processor(values.iloc[position].to_pydatetime()) != texts.iloc[position]:
            return None
    return [str(text) for text in texts.tolist()]


def _statement_sizes(count: int, size: int) -> list[int]:
    """``count`` rows as INSERT sizes from a fixed set: ``size`` itself, else powers of two. SQLite's driver keeps
    each distinct statement prepared (128 of them, ~2.6 MB for a full 17-column one): batches of arbitrary sizes
    piled up to +330 MB over a 1 GB file (measured, issue #15); a dozen sizes keep that to a few MB."""
    if count == size:
        return [size]
    return [1 << bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]


def _chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _reserve_ids(raw: Any, table: Table, rows: int, backend: str) -> list[int]:
    if backend == "postgresql":
        with raw.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table.name, rows)
            )
            return sorted(int(value) for (value,) in cursor.fetchall())
    # SQLite: the write transaction (BEGIN IMMEDIATE) holds the lock, so nobody else can take these ids.
    (newest,) = raw.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table.name}"').fetchone()
    return list(range(int(newest) + 1, int(newest) + 1 + rows))


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _copy_sql(table: Table, names: Sequence[str]) -> str:
    return f'COPY "{table.name}" ({_quoted(names)}) FROM STDIN'


def _insert_sql(table: Table, names: Sequence[str], rows: int) -> str:
    quoted = _quoted(names)
    one = "(" + ", ".join("?" * len(names)) + ")"
    return f'INSERT INTO "{table.name}" ({quoted}) VALUES {", ".join([one] * rows)}'
