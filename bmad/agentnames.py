"""Which defined agent an unknown agent id of a workflow means, when exactly one fits.

Upstream workflows sometimes name an agent that no loaded folder defines (bmad-godot-game-dev's `game-dev`, whose
agent is `game-developer`; the 2D game packs' `solution-architect`). The rule, tried in this order, first in the
workflow's own layer (its pack, or the core) and then among all loaded agents:
1) an agent whose id is the unknown id with a word added or removed at either end (`game-dev` -> `game-developer`,
   `solution-architect` -> `architect`, `dev` -> `game-dev`);
2) an agent whose id ends with the same hyphen word (`solution-architect` -> the pack's `game-architect`);
A typo (`analsyt`) is not guessed: it stays an error, with the close agent ids as a "did you mean" hint.
The first tier with exactly one agent decides (validation warns at the reference); a tier with more than one
leaves the reference an error naming them; an agent id that is defined is never looked at here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from bmad.models import Catalog

_CLOSE = 0.8


@dataclass(frozen=True)
class Guess:
    """`agent` when exactly one fits (with `why`, for the warning); else the `candidates` that fit equally, or the
    close ids to suggest (`close`) when none fits."""

    agent: str | None = None
    why: str = ""
    candidates: list[str] = field(default_factory=list)
    close: list[str] = field(default_factory=list)


def layer(path: str) -> str:
    """The folder a definition file was loaded from (`<layer>/workflows/x.yaml`, `<layer>/agents/x.md`)."""
    return path.rsplit("/", 2)[0]


def _names(catalog: Catalog) -> dict[str, str]:
    """Every name an agent answers to (its id, and its file name) -> its id."""
    names = {a: a for a in catalog.agents}
    names.update({stem: a for stem, a in catalog.agent_aliases.items() if a in catalog.agents})
    return names


def _affixed(name: str, other: str) -> bool:
    return other != name and (other.startswith(name) or name.startswith(f"{other}-")
                              or other.endswith(f"-{name}") or name.endswith(f"-{other}"))


def _same_last_word(name: str, other: str) -> bool:
    return "-" in name + other and other.rsplit("-", 1)[-1] == name.rsplit("-", 1)[-1]


def guess_agent(catalog: Catalog, name: str, near: str) -> Guess:
    """What the unknown agent id `name`, written in the file `near`, means (see the module docstring)."""
    names = _names(catalog)
    here = layer(near)
    local = {n: a for n, a in names.items() if layer(catalog.agents[a].source.path) == here}
    last = name.rsplit("-", 1)[-1]
    tiers = [
        (local, _affixed, "the only agent of that name here"),
        (local, _same_last_word, f"the only '{last}' agent of this pack"),
        (names, _affixed, "the only agent of that name loaded"),
        (names, _same_last_word, f"the only '{last}' agent loaded"),
    ]
    for scope, fits, why in tiers:
        found = sorted({a for n, a in scope.items() if fits(name, n)})
        if len(found) == 1:
            return Guess(found[0], why)
        if found:
            return Guess(candidates=found)
    close = sorted({names[n] for n in difflib.get_close_matches(name, list(names), n=3, cutoff=_CLOSE)})
    return Guess(close=close)


def meant_agent(catalog: Catalog, name: str, near: str) -> str | None:
    """The agent id `name` stands for in the file `near`: a defined agent or file name, else the unique guess."""
    return catalog.agent_id(name) or guess_agent(catalog, name, near).agent


def unknown_agent_message(catalog: Catalog, name: str, near: str, where: str = "") -> tuple[str, bool]:
    """The diagnostic text for the unknown agent `name` and whether it is only a warning (one agent fits)."""
    guess = guess_agent(catalog, name, near)
    if guess.agent is not None:
        return f"unknown agent '{name}'{where}: using '{guess.agent}' ({guess.why})", True
    if guess.candidates:
        listed = " and ".join(f"'{c}'" for c in guess.candidates)
        return f"unknown agent '{name}'{where}: {listed} fit equally; name one of them", False
    if guess.close:
        return f"unknown agent '{name}'{where} (did you mean {' or '.join(repr(c) for c in guess.close)}?)", False
    return f"unknown agent '{name}'{where}", False
