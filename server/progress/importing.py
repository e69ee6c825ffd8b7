"""Reading the old app's progress: its localStorage JSON value, or CSV with the same columns.

The JSON is an object mapping wordId to ``{studyCount, correctCount, confidence,
lastStudied?, mastered?}`` (other keys are ignored, as the old app stored more). CSV has a
header row naming those columns. Each bad entry is rejected with a reason; the rest import.
A count is a whole number 0..MAX_COUNT written with ASCII digits, and ``lastStudied`` lies
between the epoch and now (§6): other values are a bad entry, never a 500.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server import validation
from server.errors import ValidationFailed
from server.progress.rules import MAX_COUNT, Update
from server.progress.schemas import MAX_IMPORT_WORDS, check_word_id, is_word_id

# ASCII digits only: str.isdigit() and int() also take "²" or "١٢" (int() then fails on some).
# Ten digits hold MAX_COUNT, and keep int() away from its 4,300-digit limit.
_COUNT_TEXT = re.compile(r"[0-9]{1,10}")
_EPOCH_MS_TEXT = re.compile(r"[0-9]{1,20}")
# The earliest lastStudied: the epoch the old app's millisecond timestamps count from. Far
# older instants are no study at all, and the very oldest (0001-01-01T00:00:00Z) do not even
# come back from PostgreSQL as the instant stored (asyncpg returns it naive).
EARLIEST_STUDY = datetime(1970, 1, 1, tzinfo=UTC)
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@dataclass
class Parsed:
    entries: list[tuple[Update, datetime | None]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


class _Bad(ValueError):
    pass


def parse(body: bytes, content_type: str, now: datetime | None = None) -> Parsed:
    """Entries from a JSON object or, for ``text/csv``, CSV rows; ``now`` bounds
    ``lastStudied`` (the current time when not given)."""
    now = now or datetime.now(UTC)
    if content_type.split(";", maxsplit=1)[0].strip().lower() in ("text/csv", "application/csv"):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed("The CSV is not UTF-8") from None
        return _collect(_csv_rows(text), strings=True, now=now)
    try:
        value = validation.decode_json(body)
    except validation.Unreadable as exc:
        raise ValidationFailed(
            f"The body is not JSON the import reads: {exc}", details={"fields": [exc.error]}
        ) from None
    if not isinstance(value, dict):
        raise ValidationFailed(
            "Expected the old app's progress: an object mapping wordId to its record",
            details={"fields": [{"field": "body", "message": "expected an object"}]},
        )
    return _collect(iter(value.items()), strings=False, now=now)


def _csv_rows(text: str) -> Iterator[tuple[str, Any]]:
    # newline="": the csv module reads line ends itself, so \r\n, \n and a bare \r (old Mac
    # exports) all end a row, and a line end inside a quoted field stays in it.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if reader.fieldnames is None or "wordId" not in reader.fieldnames:
            raise ValidationFailed(
                "The CSV needs a header row with wordId, studyCount, correctCount, confidence",
                details={"fields": [{"field": "body", "message": "missing wordId column"}]},
            )
        for row in reader:
            yield (row.get("wordId") or "").strip(), row
    except csv.Error as exc:  # a field over the csv module's limit, say: the file is unusable
        raise ValidationFailed(
            f"The CSV cannot be read (line {reader.reader.line_num}): {exc}",
            details={"fields": [{"field": "body", "message": str(exc)}]},
        ) from None


def _collect(rows: Iterator[tuple[str, Any]], *, strings: bool, now: datetime) -> Parsed:
    """The entries and rejections of ``rows``, at most :data:`MAX_IMPORT_WORDS` words.

    Words are the distinct wordIds of the good rows, plus each rejected row (each is
    reported on its own, so each is an answer's worth of work). Reading stops at the first
    word over the limit: the whole import is refused before any scheduling or database
    work, and a huge file costs no more than the limit's worth of parsing.
    """
    parsed = Parsed()
    words: set[str] = set()
    for word_id, record in rows:
        try:
            entry = _entry(word_id, record, strings=strings, now=now)
        except _Bad as exc:
            parsed.rejected.append((word_id, str(exc)))
        else:
            parsed.entries.append(entry)
            words.add(word_id)
        if len(words) + len(parsed.rejected) > MAX_IMPORT_WORDS:
            raise ValidationFailed(
                f"An import holds at most {MAX_IMPORT_WORDS:,} words: split the file",
                details={
                    "fields": [
                        {"field": "body", "message": f"more than {MAX_IMPORT_WORDS:,} words"}
                    ]
                },
            )
    return parsed


def _entry(
    word_id: str, record: Any, *, strings: bool, now: datetime
) -> tuple[Update, datetime | None]:
    if not is_word_id(word_id):
        raise _Bad("wordId must be 1-128 of A-Z a-z 0-9 . _ : -")
    if (problem := check_word_id(word_id)) is not None:
        raise _Bad(f"wordId {problem}")
    if not isinstance(record, Mapping):
        raise _Bad("expected an object with studyCount, correctCount and confidence")
    study = _count(record, "studyCount", strings)
    correct = _count(record, "correctCount", strings)
    confidence = _count(record, "confidence", strings)
    if confidence > 5:
        raise _Bad("confidence must be 0 to 5")
    if correct > study:
        raise _Bad("correctCount must not exceed studyCount")
    mastered = _mastered(record.get("mastered"), strings)
    when = _when(record.get("lastStudied"))
    if when is not None and when > now:
        raise _Bad("lastStudied must not be after now")
    if when is not None and when < EARLIEST_STUDY:
        raise _Bad("lastStudied must not be before 1970-01-01T00:00:00Z")
    return Update(word_id, study, correct, confidence, mastered), when


def _count(record: Mapping[str, Any], name: str, strings: bool) -> int:
    value = record.get(name)
    if strings and isinstance(value, str) and _COUNT_TEXT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{name} must be a whole number (ASCII digits, at most {MAX_COUNT:,})")
    if value < 0:
        raise _Bad(f"{name} must not be negative")
    if value > MAX_COUNT:
        raise _Bad(f"{name} must be at most {MAX_COUNT:,}")
    return value


def _mastered(value: Any, strings: bool) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if strings and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _Bad("mastered must be true or false")


def _when(value: Any) -> datetime | None:
    """``lastStudied``: ISO-8601 or epoch milliseconds; None when absent."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float) or (
            isinstance(value, str) and _EPOCH_MS_TEXT.fullmatch(value.strip())
        ):
            return datetime.fromtimestamp(float(value) / 1000, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise _Bad("lastStudied must be ISO-8601 or epoch milliseconds")
