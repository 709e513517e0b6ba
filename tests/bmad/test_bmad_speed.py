"""Loading and validating the whole upstream core stays fast: what `botarmy validate` costs in-process."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bmad import load_bmad
from bmad.loader import _yaml_block
from bmad.yamlsrc import _LIBYAML, _fast_load
from tests.conftest import OWN_BMAD, upstream_core

WARM_RUNS = 5
LIMIT_S = 0.5  # measured ~0.13 s on 2 CPUs with libyaml, ~0.85 s without it; generous for CI noise
needs_libyaml = pytest.mark.skipif(_LIBYAML is None, reason="PyYAML's libyaml binding is not installed")


def yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") or p.parent.name == "agents")


def same_with_positions(slow: Any, fast: Any, at: str = "$") -> None:
    assert type(slow) is type(fast), at
    if isinstance(slow, CommentedMap):
        assert list(slow) == list(fast) and (slow.lc.line, slow.lc.col) == (fast.lc.line, fast.lc.col), at
        for key in slow:
            where = slow.lc.data.get(key), fast.lc.data.get(key)
            if slow[key] is None and all(where):  # a null value's own position is not used (see yamlsrc)
                where = where[0][:2], where[1][:2]
            assert where[0] == where[1], f"{at}.{key}"
            same_with_positions(slow[key], fast[key], f"{at}.{key}")
    elif isinstance(slow, CommentedSeq):
        assert len(slow) == len(fast) and (slow.lc.line, slow.lc.col) == (fast.lc.line, fast.lc.col), at
        for i in range(len(slow)):
            assert slow.lc.item(i) == fast.lc.item(i), f"{at}[{i}]"
            same_with_positions(slow[i], fast[i], f"{at}[{i}]")
    else:
        assert slow == fast and str(slow) == str(fast), at


def same_as_ruamel(file: Path) -> None:
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".md":
        text = _yaml_block(text, file.name)[0]
    done, fast = _fast_load(text, 200_000)
    assert done, file
    same_with_positions(YAML(typ="rt").load(text), fast, file.name)


@needs_libyaml
@pytest.mark.parametrize("file", yaml_files(OWN_BMAD), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_libyaml_path_gives_what_ruamel_alone_gives_values_and_positions(file: Path) -> None:
    same_as_ruamel(file)


@needs_libyaml
def test_libyaml_path_gives_what_ruamel_alone_gives_for_every_upstream_file() -> None:
    files = yaml_files(upstream_core())
    assert len(files) > 30
    for file in files:
        same_as_ruamel(file)


@needs_libyaml
def test_median_of_five_warm_loads_of_upstream_is_under_half_a_second() -> None:
    load_bmad(upstream_core())  # warm imports and the file cache, as a second `validate` would be
    times = []
    for _ in range(WARM_RUNS):
        started = time.perf_counter()
        catalog = load_bmad(upstream_core())
        times.append(time.perf_counter() - started)
    assert catalog.errors == []
    median = statistics.median(times)
    assert median < LIMIT_S, f"median {median * 1000:.0f} ms of {[round(t * 1000) for t in times]} ms"
