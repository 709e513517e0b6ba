"""Parsing `--input KEY=VALUE` and `--artifact NAME=FILE` flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class InputError(ValueError):
    pass


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """Values are JSON when they parse (`true`, `3`, `["a","b"]`), else plain strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--input {pair!r}: expected KEY=VALUE, e.g. --input for_each_epic=3")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def parse_artifacts(pairs: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not name.strip() or not file:
            raise InputError(f"--artifact {pair!r}: expected NAME=FILE, e.g. --artifact prd.md=docs/prd.md")
        path = Path(file)
        if not path.is_file():
            raise InputError(f"--artifact {pair!r}: file {file} does not exist")
        out[name.strip()] = path.read_bytes()
    return out


def check_repeat_inputs(names: list[str], inputs: dict[str, Any]) -> None:
    for name in names:
        value = inputs.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | list) or (isinstance(value, int) and value < 0):
            raise InputError(
                f"--input {name}={json.dumps(value)}: must be a count (e.g. 3) or a JSON list (e.g. '[\"a\",\"b\"]')"
            )
