"""A small validator for the JSON Schema subset Jumpseller's OpenAPI spec uses.

Supported: ``$ref`` (local), ``type`` (object, array, string, integer, number, boolean),
``properties``, ``items``, ``enum`` (only when its values have the declared type: the spec's
``DocumentFields.document_type`` lists strings for an integer), ``nullable``. ``format`` is
ignored. ``require_all``: every property the schema lists must be present (the spec says empty
values are sent as null, not left out); ``allow_null``: null is accepted for any property, per
the same sentence.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

# The parts of Jumpseller's spec these tests need, extracted by
# tests/data/extract_jumpseller_schemas.py.
SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "jumpseller-openapi-subset.json"

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float, Decimal)) and not isinstance(v, bool),
}


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def response_schema(path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    operation = spec()["paths"][path][method]
    return operation["responses"][status]["content"]["application/json"]["schema"]


def validate(
    value: Any,
    schema: dict[str, Any],
    *,
    require_all: bool = True,
    allow_null: bool = True,
    where: str = "$",
) -> list[str]:
    """Problems found (empty when ``value`` fits ``schema``)."""
    schema = resolve(schema)
    if value is None:
        return [] if allow_null or schema.get("nullable") else [f"{where}: null"]
    problems: list[str] = []
    kind = schema.get("type")
    if kind in _TYPES and not _TYPES[kind](value):
        return [f"{where}: {type(value).__name__} is not {kind}"]
    enum = schema.get("enum")
    if enum and kind in _TYPES and all(_TYPES[kind](e) for e in enum) and value not in enum:
        problems.append(f"{where}: {value!r} not in {enum}")
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value:
                if require_all:
                    problems.append(f"{where}.{name}: missing")
                continue
            problems += validate(
                value[name],
                sub,
                require_all=require_all,
                allow_null=allow_null,
                where=f"{where}.{name}",
            )
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(
                item,
                schema["items"],
                require_all=require_all,
                allow_null=allow_null,
                where=f"{where}[{i}]",
            )
    return problems
