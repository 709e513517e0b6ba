"""Parsing `--input KEY=VALUE` and `--artifact NAME=FILE` flags, and naming them in the problems found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bmad.inputs import InputProblem


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


def flag_lines(problems: list[InputProblem], input_pairs: list[str], artifact_pairs: list[str],
               approve: str) -> list[str]:
    """One line per problem, naming the flag as it was given: `--input foo=1: unknown input; known inputs: a, b`."""
    given = {p.partition("=")[0].strip(): p for p in input_pairs}
    files = {p.partition("=")[0].strip(): p for p in artifact_pairs}
    lines = []
    for p in problems:
        flag = {"inputs": f"--input {given.get(p.key or '', p.key)}" if p.key is not None else "--input",
                "artifacts": f"--artifact {files.get(p.key or '', p.key)}",
                "approve": f"--approve {approve}"}[p.field]
        lines.append(f"{flag}: {p.message}")
    return lines
