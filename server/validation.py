"""Name every bad field of a request body, not only the first (contract §2).

msgspec stops decoding at the first error, which is right for speed on the happy path.
When a body fails, this module walks it again against the expected struct and reports
every unknown, missing or ill-typed field, so a client can fix them all in one go.

It also owns reading JSON whose shape is not a struct (:func:`decode_json`): bytes that are
not UTF-8, nesting deeper than :data:`MAX_DEPTH`, numbers past a float, all become a field
error instead of an exception no one expects (§2: no input is answered 500).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, get_args, get_origin

import msgspec

FieldError = dict[str, str]

MAX_DEPTH = 64  # contract §2: JSON nested deeper than this is a 400


class Unreadable(ValueError):
    """A body that is not JSON the server reads; ``error`` names the field and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.error: FieldError = {"field": "body", "message": message}


def decode_json(raw: bytes) -> Any:
    """``raw`` decoded without a type, or :class:`Unreadable`."""
    try:
        value = msgspec.json.decode(raw)
    except UnicodeDecodeError:  # msgspec's answer to bad UTF-8 inside a string
        raise Unreadable("the body is not UTF-8") from None
    except RecursionError:
        raise Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except msgspec.ValidationError as exc:  # untyped, only a number past a float: 1e400
        raise Unreadable(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Unreadable(f"malformed JSON: {exc}") from None
    if _deeper_than(value, MAX_DEPTH):
        raise Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (as msgspec decodes JSON: plain dicts and lists) has more than
    ``limit`` levels of arrays and objects.

    Our own walk because neither msgspec nor the standard json module takes a depth limit
    (msgspec's own stops near the interpreter's recursion limit, about a thousand). It goes
    level by level, so it cannot itself run out of stack, and visits each container once:
    some 50 ms for a 20,000-word import, about what decoding it takes.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below.extend([c for c in children if type(c) is dict or type(c) is list])
        if not below:
            return False
        level = below
    return bool(level)  # containers at depth limit + 1


def describe(expected: Any, raw: bytes) -> list[FieldError]:
    """List ``{"field", "message"}`` for each problem of ``raw`` against ``expected``."""
    try:
        value = decode_json(raw)
    except Unreadable as exc:
        return [exc.error]
    return _walk(expected, value, "")


def grouped(fields: list[FieldError]) -> dict[str, Any]:
    """``{"fields": …}``, plus ``{"items": [{"index", "field", "message"}]}`` for errors
    inside a list (``updates[3].studyCount``), so a batch names each bad index."""
    details: dict[str, Any] = {"fields": fields}
    items = []
    for error in fields:
        match = _ITEM.match(error["field"])
        if match is not None:
            items.append(
                {
                    "index": int(match["index"]),
                    "field": match["rest"] or match["list"],
                    "message": error["message"],
                }
            )
    if items:
        details["items"] = items
    return details


_ITEM = re.compile(r"^(?P<list>[A-Za-z_]+)\[(?P<index>\d+)\]\.?(?P<rest>.*)$")


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]" if path else f"[{name}]"
    return f"{path}.{name}" if path else name


def _walk(expected: Any, value: Any, path: str) -> list[FieldError]:
    if get_origin(expected) is Annotated:
        base, *metas = get_args(expected)
        metas = [m for m in metas if isinstance(m, msgspec.Meta)]
        if not metas:  # e.g. Litestar's body marker: only msgspec's constraints matter here
            return _walk(base, value, path)
        if isinstance(value, list) and get_origin(base) in (list, tuple):
            # The list's own constraints (its length) first, then each item on its own.
            shallow = Annotated.__class_getitem__((list[Any], *metas))
            return _check(shallow, value, path) or _walk(base, value, path)
        return _check(expected, value, path)
    if isinstance(expected, type) and issubclass(expected, msgspec.Struct):
        return _walk_struct(expected, value, path)
    if get_origin(expected) in (list, tuple) and isinstance(value, list):
        (item_type, *_) = get_args(expected) or (Any,)
        found: list[FieldError] = []
        for index, item in enumerate(value):
            found.extend(_walk(item_type, item, _join(path, index)))
        return found
    return _check(expected, value, path)


def _walk_struct(expected: type[msgspec.Struct], value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, dict):
        return [{"field": path or "body", "message": "expected an object"}]
    errors: list[FieldError] = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(expected)}
    errors.extend(
        {"field": _join(path, key), "message": "unknown field"}
        for key in value
        if key not in fields
    )
    for name, field in fields.items():
        if name not in value:
            if field.required:
                errors.append({"field": _join(path, name), "message": "required"})
            continue
        errors.extend(_walk(field.type, value[name], _join(path, name)))
    return errors


def _check(expected: Any, value: Any, path: str) -> list[FieldError]:
    try:
        converted = msgspec.convert(value, expected, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc).split(" - at `")[0]
        return [{"field": path or "body", "message": message}]
    if isinstance(converted, datetime) and not has_utc_form(converted):
        return [{"field": path or "body", "message": OUTSIDE_UTC}]
    return []


OUTSIDE_UTC = "outside the instants the server stores (it has no UTC form)"


def has_utc_form(moment: datetime) -> bool:
    """Whether ``moment`` converts to UTC within years 1..9999: 9999-12-31T23:59:59-01:00
    does not, and comparing it with a stored instant would raise (§2: a 400, not a 500)."""
    if moment.tzinfo is None:
        return True
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def nul_characters(value: Any, path: str = "") -> list[FieldError]:
    """Each string of a decoded body that holds a NUL character (U+0000)."""
    if isinstance(value, str):
        if "\x00" not in value:
            return []
        return [{"field": path or "body", "message": "must not contain the NUL character"}]
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [error for key, item in items for error in nul_characters(item, _join(path, key))]
