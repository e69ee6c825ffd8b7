"""Name every bad field of a request body, not only the first (contract §2).

msgspec stops decoding at the first error, which is right for speed on the happy path.
When a body fails, this module walks it again against the expected struct and reports
every unknown, missing or ill-typed field, so a client can fix them all in one go.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args, get_origin

import msgspec

FieldError = dict[str, str]


def describe(expected: Any, raw: bytes) -> list[FieldError]:
    """List ``{"field", "message"}`` for each problem of ``raw`` against ``expected``."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return [{"field": "body", "message": f"malformed JSON: {exc}"}]
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
        msgspec.convert(value, expected, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc).split(" - at `")[0]
        return [{"field": path or "body", "message": message}]
    return []


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
