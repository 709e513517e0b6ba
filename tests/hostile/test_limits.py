"""Limits at the edge: comments, amended documents, run inputs, documents and loop counts over their limits are
refused by the API (problem+json naming the field, its size and the limit) and the CLI (one line, exit 2)
before anything reaches Temporal; the same check refuses both."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bmad import compile_workflow, load_bmad
from bmad.inputs import InvalidInputs, check_run_inputs
from bmad.limits import Limits
from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client, assert_problem
from tests.cli.conftest import botarmy, home_env, stderr_lines, stored_run
from tests.conftest import OWN_BMAD

__all__ = ["home_env"]
MB = 1_000_000
WITH_BRIEF = ("workflow:\n  id: with-brief\n  sequence:\n    - agent: pm\n      requires: brief.md\n"
              "      creates: prd.md\n")


def greenfield():  # noqa: ANN201 - a Plan
    return compile_workflow(load_bmad([OWN_BMAD]), "greenfield-service")


def running_run(store: Store) -> str:
    run_id = uuid.uuid4().hex[:10]
    store.create_run(run_id, "quick-fix", f"bmad-quick-fix-{run_id}", "h" * 64, {})
    return run_id


def test_a_loop_over_the_maximum_is_refused_naming_the_input_and_the_maximum() -> None:
    with pytest.raises(InvalidInputs) as refused:
        check_run_inputs(greenfield(), {"for_each_epic": 55})
    [problem] = refused.value.problems
    assert (problem.field, problem.key) == ("inputs", "for_each_epic")
    assert problem.message == ("for_each_epic asks for 55 iterations; the limit is 50 iterations "
                               "(BOTARMY_MAX_LOOP_ITEMS)")
    with pytest.raises(InvalidInputs, match="asks for 51 iterations"):  # a list counts its items
        check_run_inputs(greenfield(), {"for_each_epic": [f"epic {n}" for n in range(51)]})
    assert check_run_inputs(greenfield(), {"for_each_epic": 50}).inputs == {"for_each_epic": 50}
    # the maximum is a setting
    assert check_run_inputs(greenfield(), {"for_each_epic": 55}, limits=Limits(loop_items=60)).inputs
    assert Settings(max_loop_items=60).limits.loop_items == 60


def test_a_default_loop_count_over_the_maximum_is_refused_too(tmp_path: Path) -> None:
    plan = greenfield().model_copy(update={"input_defaults": {"for_each_epic": 80}})
    with pytest.raises(InvalidInputs, match="for_each_epic asks for 80 iterations"):
        check_run_inputs(plan, {})


async def test_the_api_refuses_an_oversize_input_total_a_long_loop_and_an_oversize_document(
    down_settings: Settings, bmad_dir: Path
) -> None:
    (bmad_dir / "workflows" / "with-brief.yaml").write_text(WITH_BRIEF)
    settings = down_settings.model_copy(update={"max_document_bytes": 100_000})
    async with api_client(settings, [bmad_dir]) as (_, client):
        loop = assert_problem(await client.post("/runs", json={"workflow": "greenfield-service",
                                                               "inputs": {"for_each_epic": 55}}), 422)
        assert loop["errors"][0]["loc"] == ["body", "inputs", "for_each_epic"]
        assert "55 iterations; the limit is 50 iterations (BOTARMY_MAX_LOOP_ITEMS)" in loop["detail"]

        big = {"workflow": "greenfield-service", "inputs": {"project_name": "x" * 700_000}}
        total = assert_problem(await client.post("/runs", json=big), 422)
        assert total["errors"][0]["loc"] == ["body", "inputs"]
        assert total["errors"][0]["msg"].startswith(
            "the run's inputs as JSON is 700019 bytes; the limit is 65536 bytes (BOTARMY_MAX_RUN_INPUT_BYTES)")

        doc = {"workflow": "with-brief", "artifacts": {"brief.md": "b" * 200_000}}
        document = assert_problem(await client.post("/runs", json=doc), 422)
        assert document["errors"][0]["loc"] == ["body", "artifacts", "brief.md"]
        assert document["errors"][0]["msg"] == (
            "document brief.md is 200000 bytes; the limit is 100000 bytes (BOTARMY_MAX_DOCUMENT_BYTES)")


async def test_the_api_refuses_a_one_megabyte_comment_and_an_oversize_amendment_naming_the_field(
    down_settings: Settings, bmad_dir: Path, sqlite_url: str
) -> None:
    store = Store(sqlite_url)
    store.migrate()
    run_id = running_run(store)
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        url = f"/runs/{run_id}/approvals/01-pm-prd"
        body = assert_problem(await client.post(url, json={"decision": "reject", "comment": "c" * MB}), 413)
        assert body["type"] == "urn:botarmy:problem:limit"
        [error] = body["errors"]
        assert (error["loc"], error["size"], error["limit"], error["setting"]) == (
            ["body", "comment"], MB, 16384, "BOTARMY_MAX_COMMENT_BYTES")
        assert body["detail"] == ("comment: the comment is 1000000 bytes; the limit is 16384 bytes "
                                  "(BOTARMY_MAX_COMMENT_BYTES)")
        # the three 700 KB comments that wedged a run: the first is refused already
        for _ in range(3):
            assert_problem(await client.post(url, json={"decision": "reject", "comment": "c" * 700_000}), 413)

        amend = {"decision": "amend", "content": "# PRD\n" + "a" * 300_000}
        body = assert_problem(await client.post(url, json=amend), 413)
        assert body["errors"][0]["loc"] == ["body", "content"]
        assert "is 300006 bytes; the limit is 196608 bytes (BOTARMY_MAX_AMENDMENT_BYTES)" in body["detail"]
        # within the limits the decision goes on to the run (here: Temporal is down)
        ok = await client.post(url, json={"decision": "reject", "comment": "c" * 16384})
        assert ok.status_code == 503


async def test_a_run_s_comments_together_stay_within_their_limit(
    down_settings: Settings, bmad_dir: Path, sqlite_url: str
) -> None:
    store = Store(sqlite_url)
    store.migrate()
    run_id = running_run(store)
    for step in range(8):  # what the run's decisions said so far: 8 comments of 16 KB (its approval events)
        store.append_event(run_id, "approval.resolved", {"step": f"s{step}", "decision": "reject",
                                                         "comment": "c" * 16_000})
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        url = f"/runs/{run_id}/approvals/01-pm-prd"
        body = assert_problem(await client.post(url, json={"decision": "reject", "comment": "more" * 2000}), 413)
        assert body["errors"][0]["setting"] == "BOTARMY_MAX_RUN_COMMENTS_BYTES"
        assert "the run's decision comments with this one (8000 bytes) is 136000 bytes" in body["detail"]
        # a decision without a comment still goes through to the run
        assert (await client.post(url, json={"decision": "approve"})).status_code == 503


def test_the_cli_refuses_a_one_megabyte_comment_and_an_oversize_amendment_in_one_line(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    run_id = stored_run(home_env["DATABASE_URL"])
    comment = tmp_path / "comment.txt"
    comment.write_text("c" * MB)
    done = botarmy("decide", run_id, "01-pm-prd", "reject", "--comment-file", str(comment), env=home_env)
    assert done.returncode == 2
    assert stderr_lines(done) == ["error: --comment/--comment-file: the comment is 1000000 bytes; the limit is "
                                  "16384 bytes (BOTARMY_MAX_COMMENT_BYTES)"]
    done = botarmy("decide", run_id, "01-pm-prd", "reject", "-m", "c" * 100_000, env=home_env)
    assert done.returncode == 2 and "the comment is 100000 bytes" in done.stderr

    amended = tmp_path / "prd.md"
    amended.write_text("# PRD\n" + "a" * 300_000)
    done = botarmy("decide", run_id, "01-pm-prd", "amend", "--content-file", str(amended), env=home_env)
    assert done.returncode == 2
    assert stderr_lines(done) == ["error: --content-file: the amended document (content) is 300006 bytes; the limit "
                                  "is 196608 bytes (BOTARMY_MAX_AMENDMENT_BYTES)"]


def test_the_cli_refuses_a_long_loop_and_oversize_inputs_naming_the_flag(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    done = botarmy("run", "greenfield-service", "--input", "for_each_epic=55", env=home_env)
    assert done.returncode == 2
    assert stderr_lines(done) == ["error: --input for_each_epic=55: for_each_epic asks for 55 iterations; the limit "
                                  "is 50 iterations (BOTARMY_MAX_LOOP_ITEMS)"]
    done = botarmy("run", "greenfield-service", "--input", f"project_name={'x' * 100_000}",
                   env={**home_env, "BOTARMY_MAX_LOOP_ITEMS": "60"})
    assert done.returncode == 2
    [line] = stderr_lines(done)
    assert line.startswith("error: --input: the run's inputs as JSON is 100019 bytes; the limit is 65536 bytes "
                           "(BOTARMY_MAX_RUN_INPUT_BYTES)")
    bmad = tmp_path / "bmad"
    (bmad / "workflows").mkdir(parents=True)
    (bmad / "workflows" / "with-brief.yaml").write_text(WITH_BRIEF)
    brief = tmp_path / "brief.md"
    brief.write_bytes(b"b" * 5_000)
    done = botarmy("run", "with-brief", "--bmad-dir", str(OWN_BMAD), "--bmad-dir", str(bmad),
                   "--artifact", f"brief.md={brief}", env={**home_env, "BOTARMY_MAX_DOCUMENT_BYTES": "4096"})
    assert done.returncode == 2
    assert stderr_lines(done) == [f"error: --artifact brief.md={brief}: document brief.md is 5000 bytes; the limit "
                                  "is 4096 bytes (BOTARMY_MAX_DOCUMENT_BYTES)"]
