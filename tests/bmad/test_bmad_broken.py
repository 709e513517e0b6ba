"""Each broken definition in tests/fixtures/broken/<case>/ gives precise diagnostics; the rest still loads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bmad import Catalog, DefinitionError, compile_workflow, load_bmad

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"


@pytest.fixture(autouse=True)
def _in_broken_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BROKEN)  # so diagnostics read `<case>/workflows/x.yaml:L:C`


def load(case: str) -> Catalog:
    return load_bmad(Path(case))


def located(catalog: Catalog, severity: str = "error") -> list[str]:
    return [f"{d.path}:{d.line}:{d.col}" for d in catalog.diagnostics if d.severity == severity]


def only_error(catalog: Catalog) -> str:
    assert len(catalog.errors) == 1, [str(d) for d in catalog.errors]
    return str(catalog.errors[0])


def assert_rest_loads(catalog: Catalog) -> None:
    assert {"pm", "architect"} <= set(catalog.agents)
    assert compile_workflow(catalog, "good").steps[0].template == "prd-tmpl"


CASES = [
    ("yaml-syntax", "yaml-syntax/workflows/broken.yaml:6:12",
     "YAML syntax error: expected ',' or ']', but got ':' "
     "(while parsing a flow sequence that starts at 5:16)"),
    ("duplicate-key", "duplicate-key/workflows/dup.yaml:6:7",
     'duplicate key: found duplicate key "agent" (first defined at line 4)'),
    ("unknown-agent", "unknown-agent/workflows/ghost.yaml:6:14",
     "unknown agent 'analyst' in 'analyst/pm'; known agents: architect, pm"),
    ("unknown-template", "unknown-template/workflows/notmpl.yaml:6:13",
     "unknown template 'missing-tmpl': no templates/missing-tmpl.yaml is loaded"),
    ("require-before-create", "require-before-create/workflows/order.yaml:7:11",
     "requires 'prd.md' which is created later by step 2 at line 8; move"),
    ("duplicate-workflow-id", "duplicate-workflow-id/workflows/second.yaml:3:7",
     "workflow id 'good' is already used by duplicate-workflow-id/workflows/good.yaml"),
    ("agent-without-yaml-block", "agent-without-yaml-block/agents/noyaml.md:1:1",
     "agent file has no ```yaml block; "),
    ("agent-yaml-error", "agent-yaml-error/agents/badyaml.md:10:8",
     "(while parsing a flow sequence that starts at 9:10)"),
    ("team-unknown-agent", "team-unknown-agent/agent-teams/team-test.yaml:7:5",
     "unknown agent 'ghost' in team; known agents: architect, pm"),
    ("alias-bomb", "alias-bomb/workflows/bomb.yaml:6:11",
     "document expands to more than 200000 nodes through aliases; refusing it"),
]


@pytest.mark.parametrize(("case", "where", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_broken_case_reports_one_located_error_and_rest_loads(case: str, where: str, fragment: str) -> None:
    catalog = load(case)
    message = only_error(catalog)
    assert message.startswith(f"{where}: ")
    assert fragment in message
    if case != "duplicate-workflow-id":  # there the id `good` itself is ambiguous
        assert_rest_loads(catalog)


def test_duplicate_workflow_id_makes_that_id_uncompilable() -> None:
    with pytest.raises(DefinitionError) as caught:
        compile_workflow(load("duplicate-workflow-id"), "good")
    assert "second.yaml:3:7: workflow id 'good' is already used" in str(caught.value)


def test_wrong_types_are_each_reported_at_their_value() -> None:
    catalog = load("wrong-type")
    assert located(catalog) == [
        "wrong-type/workflows/flat.yaml:4:5",
        "wrong-type/workflows/types.yaml:6:17",
        "wrong-type/workflows/types.yaml:10:9",
        "wrong-type/workflows/types.yaml:12:9",
    ]
    messages = [d.message for d in catalog.errors]
    assert messages == [
        "'sequence' must be a list of steps, not a mapping",
        "'optional' must be true or false, not 'yes'",
        "'requires' must be a string or a list of strings, not a mapping",
        "'notes' must be a string, not a list",
    ]
    assert_rest_loads(catalog)


def test_one_file_with_two_errors_reports_both_and_compile_lists_both() -> None:
    catalog = load("two-errors")
    assert located(catalog) == ["two-errors/workflows/twice.yaml:4:14",
                                "two-errors/workflows/twice.yaml:8:13"]
    with pytest.raises(DefinitionError) as caught:
        compile_workflow(catalog, "twice")
    assert [str(d) for d in caught.value.diagnostics] == [str(d) for d in catalog.errors]
    text = str(caught.value)
    assert "unknown agent 'nobody'" in text and "unknown template 'nowhere-tmpl'" in text
    assert_rest_loads(catalog)


def test_alias_bomb_is_refused_fast() -> None:
    started = time.perf_counter()
    catalog = load("alias-bomb")
    assert time.perf_counter() - started < 1.0
    assert "bomb" not in catalog.workflows


def test_too_many_aliases_is_refused(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    aliases = ", ".join(["*x"] * 150)
    (tmp_path / "workflows" / "many.yaml").write_text(f"x: &x 1\ny: [{aliases}]\n", encoding="utf-8")
    message = only_error(load_bmad(tmp_path))
    assert "workflows/many.yaml:2:" in message and "uses more than 100 aliases; refusing it" in message


def test_too_large_file_is_refused_before_parsing(tmp_path: Path) -> None:
    root = tmp_path / "core"
    (root / "workflows").mkdir(parents=True)
    big = root / "workflows" / "big.yaml"
    big.write_text("workflow:\n  id: big\n  notes: '" + "x" * 1_100_000 + "'\n", encoding="utf-8")
    catalog = load_bmad(root)
    size = big.stat().st_size
    assert [str(d) for d in catalog.errors] == [
        f"{root.as_posix()}/workflows/big.yaml: file is {size} bytes, over the 1048576-byte limit; "
        "split it"]


def test_external_input_is_a_warning_not_an_error() -> None:
    catalog = load("external-input")
    assert catalog.errors == []
    assert [str(d) for d in catalog.warnings] == [
        "external-input/workflows/external.yaml:6:17: warning: 'existing_service_analysis' is not created "
        "by any step: it is an external input of the run; pass it with --artifact "
        "existing_service_analysis=FILE",
        "external-input/workflows/external.yaml:12:7: warning: key 'foo' in step is ignored by the engine",
    ]
    plan = compile_workflow(catalog, "external")
    assert plan.external_inputs == ["existing_service_analysis"]
