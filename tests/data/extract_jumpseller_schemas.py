"""Extract from Jumpseller's OpenAPI spec the parts the sandbox tests validate against.

The tests must run on a machine that has only this repository, so they read the small extract
``jumpseller-openapi-subset.json`` beside this script, never the full spec. Run this again when
Jumpseller publishes a new spec::

    python tests/data/extract_jumpseller_schemas.py PATH/TO/jumpseller-openapi.json

It keeps the response schemas of the paths listed in ``PATHS`` and every component schema they
reference (transitively), plus ``servers`` and the spec's title, version and the extraction date.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("jumpseller-openapi-subset.json")

# The GET operations whose 200 responses the sandbox tests check, plus the NotFound schema.
PATHS = (
    "/store/info.json",
    "/orders.json",
    "/orders/status/{status}.json",
    "/orders/{id}.json",
    "/orders/count.json",
    "/orders/after/{id}.json",
    "/orders/{id}/documents.json",
    "/products.json",
    "/products/{id}.json",
    "/products/{id}/variants.json",
    "/products/{id}/variants/{variant_id}.json",
    "/locations.json",
    "/products_locations",
)
EXTRA_SCHEMAS = ("NotFound",)


def _refs(node: Any) -> set[str]:
    """Names of the component schemas ``node`` references directly."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path in PATHS:
        response = spec["paths"][path]["get"]["responses"]["200"]
        paths[path] = {"get": {"responses": {"200": response}}}
    schemas = spec["components"]["schemas"]
    wanted = _refs(paths) | set(EXTRA_SCHEMAS)
    kept: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in kept:
            continue
        kept[name] = schemas[name]
        wanted |= _refs(schemas[name]) - kept.keys()
    return {
        "x-extracted-from": {
            "title": spec["info"].get("title"),
            "version": spec["info"].get("version"),
            "openapi": spec.get("openapi"),
            "extracted_on": date.today().isoformat(),
        },
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": {"schemas": dict(sorted(kept.items()))},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    subset = extract(spec)
    OUT.write_text(json.dumps(subset, indent=1) + "\n", encoding="utf-8")
    print(f"Wrote {OUT.name}: {len(subset['components']['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
