"""`botarmy run` checks its flags against the plan before anything starts: one line per problem, exit 2."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli_team import botarmy, no_temporal
from tests.conftest import OWN_BMAD


def test_every_bad_flag_gets_its_own_line_naming_the_flag_and_nothing_starts(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("notes")
    done = botarmy("run", "greenfield-service", "--bmad-dir", str(OWN_BMAD), "--input", "foo=1",
                   "--input", "for_each_epic=-1", "--input", "architecture_suggests_prd_changes=maybe",
                   "--artifact", f"notes.md={notes}", "--approve", "pm,ghost", cwd=tmp_path, **no_temporal(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: --input foo=1: unknown input; known inputs: ac_refs, "
                               "architecture_suggests_prd_changes, ")
    assert lines[1:] == [
        'error: --input for_each_epic=-1: -1 must be a count (e.g. 3) or a JSON list (e.g. ["a","b"])',
        'error: --input architecture_suggests_prd_changes=maybe: "maybe" is not a condition value; use true or false',
        f"error: --artifact notes.md={notes}: unknown external document; greenfield-service takes none",
        "error: --approve pm,ghost: greenfield-service does not use ghost; use all, none, or agents of "
        "greenfield-service: analyst, architect, dev, pm, po, qa, sm",
    ]
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]  # no database, no dev server: nothing started


def test_an_unknown_workflow_is_one_line_without_a_zero_location(tmp_path: Path) -> None:
    done = botarmy("run", "no-such-workflow", "--bmad-dir", str(OWN_BMAD), cwd=tmp_path, **no_temporal(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "no-such-workflow: unknown workflow 'no-such-workflow'; available workflows: greenfield-service, quick-fix"]
