"""A CSV batch read in bounded chunks: the header checked first, then rows as text, bad lines refused one by one.

Memory stays bounded whatever the file holds: a physical line is read at most :data:`MAX_LINE_BYTES`
at a time (a longer one is skipped in pieces and refused), a field longer than the ``csv`` module's limit
is refused, and a chunk ends at :data:`CHUNK_ROWS` rows or :data:`CHUNK_BYTES` bytes of text.

Line-level problems are refused rows (:class:`Malformed`) with their line number, and the rest of the
file is still read: more fields than the header (fewer are kept and read as missing values), bytes
that are not UTF-8, a line or a field over its limit. File-level problems raise :class:`BatchFileError`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import pandas as pd

from core.errors import LoupeError
from core.serving.input_schema import InputSchema

MEGABYTE = 1024 * 1024
MAX_LINE_BYTES = MEGABYTE  # a longer physical line is refused without being held whole
CHUNK_ROWS = 50_000  # rows scored and logged together (one transaction each)
CHUNK_BYTES = 32 * MEGABYTE  # ... or fewer, when the rows are wide
FIELD_LIMIT = csv.field_size_limit()  # the csv module's own limit (131,072 characters), read, never changed
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
DIGEST_BLOCK = MEGABYTE
LINE_RULE_FIELD = "(line)"  # the ``field`` of a refusal that concerns the whole line


class BatchFileError(LoupeError, ValueError):
    """The file as a whole cannot be scored; the message says why and what to do."""


def not_utf8_message(byte: int, line: int) -> str:
    return f"the file is not UTF-8 text (byte 0x{byte:02x} on line {line}); save it as “CSV UTF-8” and upload it again"


@dataclass(frozen=True)
class FileFacts:
    """What one pass over the bytes tells: their digest, size, and the first byte that is not UTF-8."""

    digest: str
    size: int
    first_bad: tuple[int, int] | None = None  # (byte, line)


def file_facts(stream: BinaryIO) -> FileFacts:
    """SHA-256 and size of the stream's bytes, and where UTF-8 first breaks (read in 1 MB blocks)."""
    hasher = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    lines = 1
    first_bad: tuple[int, int] | None = None
    while block := stream.read(DIGEST_BLOCK):
        hasher.update(block)
        size += len(block)
        if first_bad is None:
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                # The decoder may hold up to 3 bytes of the previous block: the position is near enough for a line.
                position = max(error.start - len(error.object) + len(block), 0)
                first_bad = (block[min(position, len(block) - 1)], lines + block[:position].count(b"\n"))
        lines += block.count(b"\n")
    if first_bad is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            first_bad = (0, lines)
    return FileFacts(digest=hasher.hexdigest(), size=size, first_bad=first_bad)


@dataclass(frozen=True)
class Malformed:
    """A data line that could not be read as a row: its row number (1 = first row under the header) and why."""

    row: int
    line: int
    rule: str  # fields | encoding | size
    message: str


@dataclass(frozen=True)
class RawChunk:
    """Rows read as text (index: row numbers), the malformed lines among them, and how far the file was read."""

    frame: pd.DataFrame
    malformed: list[Malformed] = field(default_factory=list)
    bytes_read: int = 0


class _Lines:
    """The stream's physical lines as text; a line that cannot be text is noted and given as an empty line."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.number = 0
        self.bytes_read = 0
        self.problems: dict[int, tuple[str, str]] = {}  # line number → (rule, message), until its row takes it

    def __iter__(self) -> Iterator[str]:
        readline = self.stream.readline
        while raw := readline(MAX_LINE_BYTES + 1):
            self.number += 1
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                size = len(raw) + self._skip_rest()
                self.problems[self.number] = (
                    "size",
                    f"line {self.number}: {size:,} bytes long, over the {MAX_LINE_BYTES // MEGABYTE} MB a line may hold "
                    "(rule: size)",
                )
                yield "\n"  # an empty line: the csv reader moves on, the row is refused by its number
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.problems[self.number] = (
                    "encoding",
                    f"line {self.number}: not UTF-8 text (byte 0x{raw[error.start]:02x}) (rule: encoding)",
                )
                yield "\n"
                continue
            if self.number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield text

    def _skip_rest(self) -> int:
        skipped = 0
        while chunk := self.stream.readline(MAX_LINE_BYTES):
            skipped += len(chunk)
            self.bytes_read += len(chunk)
            if chunk.endswith(b"\n"):
                break
        return skipped

    def take(self, first: int, last: int) -> tuple[str, str] | None:
        """The first problem noted on lines ``first``..``last`` (all of them are forgotten)."""
        if not self.problems:
            return None
        found = None
        for number in range(first, last + 1):
            problem = self.problems.pop(number, None)
            if found is None:
                found = problem
        return found


class BatchReader:
    """Reads a CSV batch against ``schema``: the header on creation (file-level checks), then :meth:`chunks`."""

    def __init__(self, stream: BinaryIO, *, schema: InputSchema, first_bad: tuple[int, int] | None = None) -> None:
        self._lines = _Lines(stream)
        self._reader = csv.reader(iter(self._lines), skipinitialspace=True)
        self.rows_read = 0
        self.well_formed = 0
        self.first_malformed: Malformed | None = None
        self.header = self._read_header(schema, first_bad)
        extra = [name for name in self.header if name not in schema.names]
        self.notices = (
            [f"column(s) not used by the model, passed through to the results: {', '.join(extra)}"] if extra else []
        )

    def _read_header(self, schema: InputSchema, first_bad: tuple[int, int] | None) -> list[str]:
        expected = ", ".join(schema.names)

        def refuse(message: str) -> BatchFileError:
            # A file in another encoding often fails the header checks too: the encoding is the thing to fix.
            return BatchFileError(not_utf8_message(*first_bad) if first_bad is not None else message)

        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                raise refuse(f"the file is empty; expected a header row with the columns: {expected}") from None
            except csv.Error:
                raise refuse(
                    f"a header field is over {FIELD_LIMIT:,} characters; the header names the columns: {expected}"
                ) from None
            problem = self._lines.take(1, self._reader.line_num)
            if problem is not None:
                rule, message = problem
                if rule == "encoding" and first_bad is not None:
                    raise BatchFileError(not_utf8_message(*first_bad))
                raise BatchFileError(f"the header line cannot be read: {message.split(': ', 1)[1]}")
            if row:
                break
        header = [name.strip() for name in row]
        if len(header) == 1 and len(schema.names) > 1:
            for delimiter, label in OTHER_DELIMITERS.items():
                if delimiter in header[0]:
                    raise refuse(
                        f"the columns seem to be separated by {label}; Loupe reads comma-separated files "
                        f"(expected header: {','.join(schema.names)})"
                    )
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            shown = ", ".join(name[:80] for name in duplicated[:20])
            raise refuse(f"duplicated column(s) in the header: {shown}; keep one of each")
        missing = [name for name in schema.required_names if name not in header]
        if missing:
            raise refuse(f"missing column(s): {', '.join(missing)}; the model needs: {expected}")
        return header

    def chunks(self, *, rows: int = CHUNK_ROWS, max_bytes: int = CHUNK_BYTES) -> Iterator[RawChunk]:
        """The data rows, ``rows`` (or ``max_bytes`` of text) at a time; short rows are padded with empty cells."""
        width = len(self.header)
        reader, lines = self._reader, self._lines
        values: list[list[str]] = []
        numbers: list[int] = []
        malformed: list[Malformed] = []
        started = lines.bytes_read
        while True:
            before = reader.line_num
            try:
                row = next(reader)
                problem = lines.take(before + 1, reader.line_num)
            except StopIteration:
                break
            except csv.Error:
                lines.take(before + 1, reader.line_num)
                problem = ("size", f"line {before + 1}: a field over {FIELD_LIMIT:,} characters (rule: size)")
                row = None
            if problem is None and not row:
                continue  # a blank line
            self.rows_read += 1
            if problem is None and row is not None and len(row) > width:
                problem = (
                    "fields",
                    f"line {before + 1}: {len(row)} fields where the header has {width} (rule: fields)",
                )
            if problem is not None:
                found = Malformed(row=self.rows_read, line=before + 1, rule=problem[0], message=problem[1])
                malformed.append(found)
                self.first_malformed = self.first_malformed or found
            else:
                assert row is not None
                self.well_formed += 1
                values.append(row if len(row) == width else row + [""] * (width - len(row)))
                numbers.append(self.rows_read)
            if len(values) + len(malformed) >= rows or lines.bytes_read - started >= max_bytes:
                yield self._chunk(values, numbers, malformed)
                values, numbers, malformed = [], [], []
                started = lines.bytes_read
        if values or malformed:
            yield self._chunk(values, numbers, malformed)

    def _chunk(self, values: list[list[str]], numbers: list[int], malformed: list[Malformed]) -> RawChunk:
        frame = pd.DataFrame(values, columns=self.header, index=pd.Index(numbers, dtype=int), dtype=object)
        if not values:
            frame = pd.DataFrame({name: pd.Series(dtype=object) for name in self.header}, index=pd.Index([], dtype=int))
        return RawChunk(frame=frame, malformed=malformed, bytes_read=self._lines.bytes_read)

    def file_level_problem(self, schema: InputSchema, first_bad: tuple[int, int] | None) -> str | None:
        """After reading everything: why the file as a whole cannot be scored (no rows, none readable), or ``None``."""
        if self.rows_read == 0:
            return f"the file has a header but no data rows; add rows under: {', '.join(schema.names)}"
        if self.well_formed == 0 and self.first_malformed is not None:
            if self.first_malformed.rule == "encoding" and first_bad is not None:
                return not_utf8_message(*first_bad)
            return f"the file is not a well-formed CSV: {self.first_malformed.message.removesuffix(' (rule: fields)')}"
        return None
