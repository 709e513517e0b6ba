"""bmad.inputs.check_run_inputs: a run's inputs checked against its Plan, every problem at once."""

from __future__ import annotations

import pytest

from bmad import compile_workflow, load_bmad
from bmad.inputs import InputProblem, InvalidInputs, check_run_inputs, known_inputs
from bmad.plan import Plan, PlanStep, RepeatBlock, RouteOption, TemplateSection, TemplateSpec
from tests.conftest import OWN_BMAD


@pytest.fixture(scope="module")
def greenfield() -> Plan:
    return compile_workflow(load_bmad([OWN_BMAD]), "greenfield-service")


def routed() -> Plan:
    """A plan with an external document, a condition, a route, a repeat block and a template variable."""
    steps = [
        PlanStep(index=0, id="01-analyst-brief", agent="analyst", agents=["analyst"], creates="brief.md",
                 requires=["notes.md"]),
        PlanStep(index=1, id="02-pm-prd", agent="pm", agents=["pm"], creates="prd.md", condition="needs_prd",
                 template="prd"),
        PlanStep(index=2, id="size", kind="control", condition="size",
                 routes=[RouteOption(name="small", step="size.small"), RouteOption(name="big", then="exit")]),
        PlanStep(index=3, id="04-dev-code", agent="dev", agents=["dev"], creates="code.md", repeats="for_each_epic"),
        PlanStep(index=4, id="size.small", agent="dev", agents=["dev"], creates="small.md", route_of="size"),
    ]
    return Plan(
        workflow_id="routed", steps=steps, external_inputs=["notes.md"], conditions=["needs_prd", "size"],
        repeat_blocks=[RepeatBlock(input_name="for_each_epic", start=3, end=3)],
        input_defaults={"for_each_epic": 1, "needs_prd": False, "size": "small", "small_path": True,
                        "big_path": False},
        templates={"prd": TemplateSpec(id="prd", title="{{project.name}} PRD",
                                       sections=[TemplateSection(id="goals", instruction="Goals of {{owner}}")])},
    ).seal()


def problems(plan: Plan, inputs: dict, artifacts: list[str] = (), approve: str | list[str] = "none"):  # type: ignore[assignment]
    with pytest.raises(InvalidInputs) as caught:
        check_run_inputs(plan, inputs, artifacts, approve)
    return caught.value.problems


def test_known_inputs_are_the_plans_run_inputs_template_variables_and_the_reserved_ones() -> None:
    assert known_inputs(routed()) == ["big_path", "for_each_epic", "needs_prd", "owner", "project", "size",
                                      "skip", "skip_optional", "small_path", "_team", "_approve"]


def test_an_unknown_input_is_refused_listing_the_known_ones(greenfield: Plan) -> None:
    [problem] = problems(greenfield, {"for_each_epik": 2})
    assert problem.field == "inputs" and problem.key == "for_each_epik"
    assert problem.message.startswith("unknown input; known inputs: ac_refs, architecture_suggests_prd_changes, ")
    assert "for_each_epic" in problem.message and "_team" not in problem.message


def test_every_problem_is_reported_at_once_in_order() -> None:
    found = problems(routed(), {"nope": 1, "for_each_epic": -1, "needs_prd": "maybe", "size": "huge"},
                     ["notes.md", "extra.md"], ["pm", "ghost"])
    assert [(p.field, p.key) for p in found] == [("inputs", "nope"), ("inputs", "for_each_epic"),
                                                 ("inputs", "needs_prd"), ("inputs", "size"),
                                                 ("artifacts", "extra.md"), ("approve", None)]
    assert found[4].message == "unknown external document; known documents: notes.md"
    assert found[5].message == "routed does not use ghost; use all, none, or agents of routed: analyst, dev, pm"


@pytest.mark.parametrize(("given", "wanted"), [(True, True), ("yes", True), ("No", False), (" TRUE ", True),
                                               ("false", False)])
def test_condition_inputs_become_booleans(greenfield: Plan, given: object, wanted: bool) -> None:
    checked = check_run_inputs(greenfield, {"architecture_suggests_prd_changes": given})
    assert checked.inputs == {"architecture_suggests_prd_changes": wanted}


@pytest.mark.parametrize("given", ["maybe", 1, 0, None, ["yes"]])
def test_a_condition_input_that_is_not_a_boolean_is_refused(greenfield: Plan, given: object) -> None:
    [problem] = problems(greenfield, {"architecture_suggests_prd_changes": given})
    assert problem.message.endswith("is not a condition value; use true or false")


@pytest.mark.parametrize("given", [0, 3, ["a", "b"], []])
def test_repeat_inputs_take_a_count_or_a_list(greenfield: Plan, given: object) -> None:
    assert check_run_inputs(greenfield, {"for_each_epic": given}).inputs == {"for_each_epic": given}


@pytest.mark.parametrize("given", [-1, True, "3", 1.5, {"a": 1}])
def test_a_repeat_input_that_is_not_a_count_or_a_list_is_refused(greenfield: Plan, given: object) -> None:
    [problem] = problems(greenfield, {"for_each_epic": given})
    assert "must be a count (e.g. 3) or a JSON list" in problem.message


def test_a_route_input_must_name_a_branch() -> None:
    assert check_run_inputs(routed(), {"size": "big"}).inputs == {"size": "big"}
    [problem] = problems(routed(), {"size": "huge"})
    assert problem.message == '"huge" is not a branch; use one of: small, big'


def test_template_variables_reserved_and_engine_inputs_are_accepted() -> None:
    inputs = {"project": {"name": "Acme"}, "owner": "Ada", "_team": "team-core", "skip": ["02-pm-prd"],
              "skip_optional": "yes"}
    assert check_run_inputs(routed(), inputs).inputs == {**inputs, "skip_optional": True}


def test_skip_must_name_steps_of_the_plan() -> None:
    [problem] = problems(routed(), {"skip": ["02-pm-prd", "99-nope"]})
    assert problem.message.startswith("no step 99-nope; steps: 01-analyst-brief, 02-pm-prd, ")


def test_external_documents_the_plan_does_not_take_are_refused(greenfield: Plan) -> None:
    assert check_run_inputs(routed(), {}, ["notes.md"]).inputs == {}
    assert problems(greenfield, {}, ["brief.md"]) == [
        InputProblem("artifacts", "brief.md", "unknown external document; greenfield-service takes none")]


@pytest.mark.parametrize(("given", "wanted"), [("all", "all"), (" none", "none"), ("pm, dev,pm", ["pm", "dev"]),
                                               (["dev"], ["dev"])])
def test_the_approve_policy_is_normalised(given: str | list[str], wanted: str | list[str]) -> None:
    assert check_run_inputs(routed(), {}, approve=given).approve == wanted


@pytest.mark.parametrize("given", [",", [], "pm,qa"])
def test_an_approve_policy_naming_no_agent_or_an_unused_one_is_refused(given: str | list[str]) -> None:
    [problem] = problems(routed(), {}, approve=given)
    assert problem.field == "approve" and problem.message.endswith("agents of routed: analyst, dev, pm")
