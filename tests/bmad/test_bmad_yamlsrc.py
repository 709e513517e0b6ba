"""Safe YAML loading: positions, offsets for embedded blocks, duplicate keys, limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bmad.yamlsrc import Located, YamlLoadError, item_pos, key_pos, load_yaml_file, load_yaml_text, value_pos

BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 10)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
) + "\n"


def test_positions_are_one_based_and_shifted_by_the_offset() -> None:
    doc = load_yaml_text("x:\n  - a\n  - b: 1\n    c: 2\n", Located("f.yaml"))
    assert key_pos(doc, "x") == (1, 1)
    assert value_pos(doc, "x") == (2, 3)
    assert item_pos(doc["x"], 1) == (3, 5)
    assert key_pos(doc["x"][1], "c") == (4, 5)
    assert key_pos(doc["x"][1], "c", offset=10) == (14, 5)
    assert Located("f.md", line_offset=10).key(doc["x"][1], "c") == (14, 5)


def test_duplicate_key_points_at_the_duplicate_in_the_markdown_file() -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text("agent:\n  id: pm\n  id: po\n", Located("agents/pm.md", line_offset=7))
    diag = caught.value.diagnostic
    assert (diag.path, diag.line, diag.col) == ("agents/pm.md", 10, 3)
    assert 'duplicate key "id" (first defined at line 9)' in diag.message


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text("a: b: c\n", Located("w.yaml"))
    assert str(caught.value) == "w.yaml:1:5: YAML syntax error: mapping values are not allowed here"


def test_billion_laughs_is_refused_in_under_a_second() -> None:
    started = time.perf_counter()
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text(BOMB, Located("bomb.yaml"))
    assert time.perf_counter() - started < 1.0
    assert "refusing it" in str(caught.value)


def test_node_limit_applies_without_many_aliases() -> None:
    with pytest.raises(YamlLoadError, match="expands to more than 50 nodes"):
        load_yaml_text("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a, *a, *a, *a]\n",
                       Located("x.yaml"), max_nodes=50)


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    file = tmp_path / "w.yaml"
    file.write_text("a: 1\n" * 10, encoding="utf-8")
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_file(file, "w.yaml", max_bytes=20)
    assert str(caught.value) == "w.yaml: file is 50 bytes, over the 20-byte limit; split it"


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "w.yaml"
    file.write_bytes(b"a: \xff\n")
    with pytest.raises(YamlLoadError, match="not valid UTF-8"):
        load_yaml_file(file, "w.yaml")


def test_non_ascii_and_braces_are_plain_text() -> None:
    text = "id: café-flujo\nout: docs/{feature-name}/\nroot: '{root}/data'\n"
    doc = load_yaml_text(text, Located("x.yaml"))
    assert (doc["id"], doc["out"], doc["root"]) == ("café-flujo", "docs/{feature-name}/", "{root}/data")
