"""Reading an export: CSV or JSON Lines, each row with the line of the file it starts on.

A row that cannot be read (a JSON line that does not parse, a CSV record with
more cells than the header has columns) is a rejection of that line, not the
end of the import; a file that cannot be read at all is a ``SourceError``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import msgspec

from services.importing.mapping import Rejection, Row, SourceFormat


class SourceError(Exception):
    """The export cannot be read at all (missing, wrong encoding, no header)."""


def format_of(path: Path, chosen: SourceFormat | None) -> SourceFormat:
    """The export's format: as chosen (``--format`` or the mapping), else by the file's extension."""
    if chosen is not None:
        return chosen
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    raise SourceError(f"cannot tell the format of {path.name} from its extension: use --format csv or jsonl")


def read_rows(
    path: Path, fmt: SourceFormat, *, delimiter: str = ",", encoding: str = "utf-8-sig"
) -> list[Row | Rejection]:
    """Every row of the export, in file order; blank lines are left out."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            return list(_csv_rows(handle, delimiter) if fmt == "csv" else _jsonl_rows(handle))
    except UnicodeDecodeError as e:
        raise SourceError(f"{path.name} is not {encoding} text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise SourceError(f"{path.name} is not readable CSV: {e}") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror}") from None


def _csv_rows(lines: Iterator[str], delimiter: str) -> Iterator[Row | Rejection]:
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise SourceError("the file is empty: a CSV export starts with a header row")
    columns = [name.strip() for name in header]
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise SourceError(f"the header names column {duplicates[0]!r} more than once")
    starts = reader.line_num + 1
    for record in reader:
        line, starts = starts, reader.line_num + 1  # a quoted cell may span lines: a row is named by its first
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(columns):
            yield Rejection(line=line, field="", reason=f"{len(record)} cells, but the header has {len(columns)}")
            continue
        yield Row(line=line, values=dict(zip(columns, record, strict=False)))


def _jsonl_rows(lines: Iterator[str]) -> Iterator[Row | Rejection]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError:
            yield Rejection(line=line, field="", reason="not valid JSON")
            continue
        if not isinstance(value, dict):
            yield Rejection(line=line, field="", reason="not a JSON object")
            continue
        yield Row(line=line, values=value)
