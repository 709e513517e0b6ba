"""`botarmy prune`: says what it freed (or would), one clear line for an age it cannot read."""

from __future__ import annotations

from tests.cli.conftest import botarmy


def test_prune_cli_says_what_it_freed_and_refuses_a_bad_age(home_env) -> None:
    done = botarmy("prune", "--older-than", "30d", "--dry-run", env=home_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "would delete 0 runs, 0 documents no other run uses (0 bytes)"
    bad = botarmy("prune", "--older-than", "a month", env=home_env)
    assert bad.returncode == 2 and "use a number and a unit, e.g. 30d" in bad.stderr
