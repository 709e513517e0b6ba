"""Untrusted YAML is refused fast: deep nesting, alias bombs, recursive aliases and oversize text, through the
loader, `botarmy render --vars` and the template PUT of the API; a refused text is never parsed again.

The time bounds are bounds on a refusal (seconds where the defect took minutes), not speed targets.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.main import YAML

from bmad import load_bmad
from bmad.yamlsrc import _LIBYAML, MAX_BYTES, MAX_DEPTH, Located, YamlLoadError, load_yaml_text
from botarmy.settings import Settings
from tests.api.conftest import api_client, assert_problem
from tests.conftest import subprocess_env, upstream_core

REFUSAL_BOUND_S = 5.0
BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 10)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
) + "\n"
DEEP = {
    "flow-1e4": "[" * 10**4 + "]" * 10**4,
    "flow-1e5": "[" * 10**5 + "]" * 10**5,
    "block-1e4": "- " * 10**4 + "x\n",
    "block-1e5": "- " * 10**5 + "x\n",
    "mapping-1e4": "{a: " * 10**4 + "1" + "}" * 10**4,
}
HOSTILE = {**DEEP, "billion-laughs": BOMB, "recursive-alias": "a: &a [1, *a]\n"}
REFUSED = {"billion-laughs": "through aliases; refusing it", "recursive-alias": "refusing a recursive document"}


@pytest.fixture
def ruamel_parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts ruamel's (slow, pure-Python) parser is handed."""
    seen: list[str] = []
    parse = YAML.parse

    def counted(self: YAML, stream: Any) -> Any:
        seen.append(stream)
        return parse(self, stream)

    monkeypatch.setattr(YAML, "parse", counted)
    yield seen


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_is_refused_within_the_bound_with_a_position(name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text(HOSTILE[name], Located("hostile.yaml"))
    assert time.perf_counter() - started < REFUSAL_BOUND_S
    diag = caught.value.diagnostic
    assert (diag.path, diag.line) == ("hostile.yaml", 6 if name == "billion-laughs" else 1)
    assert REFUSED.get(name, "YAML nesting is deeper than") in diag.message


@pytest.mark.skipif(_LIBYAML is None, reason="PyYAML's libyaml binding is not installed")
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_text_libyaml_refused_is_never_parsed_again(name: str, ruamel_parses: list[str]) -> None:
    with pytest.raises(YamlLoadError):
        load_yaml_text(HOSTILE[name], Located("hostile.yaml"))
    assert ruamel_parses == []


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")  # ruamel notes the reuse
def test_a_redefined_anchor_is_not_taken_for_a_recursive_one() -> None:
    doc = load_yaml_text("a: &x\n  b: &x 1\n  c: *x\n", Located("x.yaml"))
    assert doc == {"a": {"b": 1, "c": 1}}


@pytest.mark.skipif(_LIBYAML is None, reason="PyYAML's libyaml binding is not installed")
def test_a_duplicate_key_is_reported_without_a_second_parse(ruamel_parses: list[str]) -> None:
    text = "docs:\n" + "".join(f"  - id: {i}\n" for i in range(20_000)) + "docs: again\n"
    with pytest.raises(YamlLoadError, match='x.yaml:20002:1: duplicate key: found duplicate key "docs" '
                                            r"\(first defined at line 1\)"):
        load_yaml_text(text, Located("x.yaml"))
    assert ruamel_parses == []


def nested(depth: int) -> str:
    return "a: " + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "\n"


def test_nesting_up_to_the_limit_loads_and_one_more_level_is_refused() -> None:
    doc = load_yaml_text(nested(MAX_DEPTH), Located("x.yaml"))
    for _ in range(MAX_DEPTH):
        doc = doc[next(iter(doc))] if isinstance(doc, dict) else doc[0]
    assert doc == 1
    with pytest.raises(YamlLoadError, match=f"x.yaml:1:{MAX_DEPTH + 3}: YAML nesting is deeper than {MAX_DEPTH}"):
        load_yaml_text(nested(MAX_DEPTH + 1), Located("x.yaml"))


def test_the_depth_limit_holds_without_libyaml_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bmad.yamlsrc._LIBYAML", None)
    started = time.perf_counter()
    for text in (DEEP["flow-1e5"], DEEP["block-1e5"], BOMB):
        with pytest.raises(YamlLoadError, match="refusing it"):
            load_yaml_text(text, Located("x.yaml"))
    assert time.perf_counter() - started < REFUSAL_BOUND_S
    assert load_yaml_text("a: &x [1]\nb: *x\n", Located("x.yaml")) == {"a": [1], "b": [1]}


def test_oversize_text_is_refused_before_parsing(ruamel_parses: list[str]) -> None:
    text = "a: " + "x" * MAX_BYTES + "\n"
    with pytest.raises(YamlLoadError, match=f"x.yaml: YAML text is {len(text)} bytes, over the {MAX_BYTES}"):
        load_yaml_text(text, Located("x.yaml"))
    assert ruamel_parses == []


def test_the_loader_reports_a_deep_template_as_one_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "deep-tmpl.yaml").write_text(f"template: {DEEP['flow-1e5']}\n")
    started = time.perf_counter()
    catalog = load_bmad(tmp_path)
    assert time.perf_counter() - started < REFUSAL_BOUND_S
    assert [str(d) for d in catalog.errors] == [
        f"{tmp_path.as_posix()}/templates/deep-tmpl.yaml:1:1010: YAML nesting is deeper than 1000 levels (the "
        f"limit is {MAX_DEPTH}); refusing it"
    ]


# -- botarmy render --vars ----------------------------------------------------------------------------------


def render(vars_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", "render", "prd-tmpl", "--vars", vars_file.name,
                           "--bmad-dir", str(upstream_core())], cwd=vars_file.parent, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, text, message", [
    ("bomb.yaml", BOMB + "project_name: *a6\n", "--vars bomb.yaml:6:10: document expands to more than"),
    ("recursive.yaml", "project_name: &a [*a]\n", "--vars recursive.yaml:1:19: alias *a refers to a collection"),
    ("deep.yaml", "project_name: " + DEEP["flow-1e5"] + "\n", "--vars deep.yaml:1:1014: YAML nesting is deeper"),
    ("deep.json", '{"project_name": ' + DEEP["flow-1e5"] + "}", "--vars deep.json: JSON nesting is deeper than"),
    ("shallow.json", '{"project_name": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}",
     "--vars shallow.json: JSON nesting is deeper than"),
    ("big.yaml", "a: " + "x" * MAX_BYTES + "\n", f"over the {MAX_BYTES}-byte limit"),
])
def test_render_refuses_hostile_vars_with_one_line_and_exit_2(tmp_path: Path, name: str, text: str,
                                                               message: str) -> None:
    vars_file = tmp_path / name
    vars_file.write_text(text)
    done = render(vars_file)
    assert done.returncode == 2, (done.stdout[:500], done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_render_still_takes_yaml_vars_with_a_few_aliases(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("name: &n Todo\nproject_name: *n\ngoals: [Ship it]\n")
    done = render(vars_file)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Todo Product Requirements Document (PRD)\n")


# -- the API's template PUT ----------------------------------------------------------------------------------


async def test_runs_are_listed_while_hostile_template_puts_are_refused(down_settings: Settings,
                                                                      bmad_dir: Path) -> None:
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        async def put(name: str, text: str) -> Any:
            return await client.put(f"/catalog/templates/{name}", content=text,
                                    headers={"content-type": "application/yaml"})

        async def runs_after_puts_started() -> Any:
            await asyncio.sleep(0)  # let the PUTs reach their threads first
            return await client.get("/runs")

        hostile = [put("deep-tmpl", f"template: {DEEP['flow-1e5']}\n"),
                   put("deeper-tmpl", f"template:\n  id: x\nsections:\n{DEEP['block-1e5']}"),
                   put("bomb-tmpl", BOMB)]
        *refused, runs = await asyncio.wait_for(asyncio.gather(*hostile, runs_after_puts_started()),
                                                REFUSAL_BOUND_S * 4)
        assert runs.status_code == 200, runs.text
        for response, message in zip(refused, ["YAML nesting is deeper than", "YAML nesting is deeper than",
                                               "through aliases; refusing it"], strict=True):
            body = assert_problem(response, 422)
            assert message in body["detail"] and body["detail"].startswith("templates/")
    assert not any((bmad_dir / "templates" / f"{n}.yaml").exists() for n in ("deep-tmpl", "deeper-tmpl", "bomb-tmpl"))
