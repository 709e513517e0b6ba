"""Load YAML safely with positions: size, depth and alias limits, duplicate keys and syntax errors as Diagnostics.

Every mapping and sequence comes back as a ruamel `CommentedMap` / `CommentedSeq`, so any key or item can be
located with `key_pos`, `value_pos` and `item_pos` (1-based, shifted by the line offset of a YAML block that
is embedded in a Markdown file).

Untrusted text: over MAX_BYTES is refused before parsing; the event stream is checked as it comes (nesting
deeper than MAX_DEPTH, more than MAX_ALIASES aliases, a recursive alias, more than MAX_NODES nodes with
aliases expanded) and refused at the first event over a limit, before any node is built. A text one parser
refused is never handed to another.

Speed: ruamel's pure-Python scanner is ~40x slower than libyaml. When PyYAML's libyaml binding is installed,
a document without anchors, aliases, tags or directives is scanned by libyaml and its events are fed to
ruamel's own composer and round-trip constructor, so the result (types, positions, duplicate-key checks) is the
same. Anything else, and every document with a syntax or duplicate-key problem, goes through ruamel alone
(once libyaml's events were within the limits), so every diagnostic is ruamel's, exactly. Positions of null
values are not used: `value_pos` of a null value is its key's position.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ry
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import Event

from bmad.diagnostics import Diagnostic, Severity

try:  # optional: libyaml through PyYAML makes loading much faster; without it ruamel does everything
    import yaml as _pyyaml

    _LIBYAML: Any = _pyyaml.CBaseLoader
except (ImportError, AttributeError):
    _LIBYAML = None

MAX_BYTES = 1_048_576
MAX_ALIASES = 100
MAX_NODES = 200_000
MAX_DEPTH = 64  # nesting levels of mappings and sequences; BMAD's own files use at most 10

Pos = tuple[int, int]


class YamlLoadError(Exception):
    """A YAML source that could not be loaded; carries the one Diagnostic that says why."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(str(diagnostic))


@dataclass(frozen=True)
class Located:
    """Where a YAML document lives: the path shown in diagnostics and the line offset inside that file."""

    path: str
    line_offset: int = 0

    def diag(self, pos: Pos, message: str, severity: Severity = "error") -> Diagnostic:
        return Diagnostic(self.path, pos[0], pos[1], message, severity)

    def node(self, node: Any) -> Pos:
        return node_pos(node, self.line_offset)

    def key(self, mapping: Any, key: Any) -> Pos:
        return key_pos(mapping, key, self.line_offset)

    def value(self, mapping: Any, key: Any) -> Pos:
        return value_pos(mapping, key, self.line_offset)

    def item(self, seq: Any, index: int) -> Pos:
        return item_pos(seq, index, self.line_offset)


def _shift(raw: Any, offset: int) -> Pos:
    if not raw:
        return (offset + 1, 1) if offset else (0, 0)
    return (raw[0] + 1 + offset, raw[1] + 1)


def node_pos(node: Any, offset: int = 0) -> Pos:
    """Position of a mapping or sequence node itself; (0, 0) when unknown (plain scalars carry none)."""
    if isinstance(node, CommentedMap | CommentedSeq) and node.lc.line is not None:
        return (node.lc.line + 1 + offset, node.lc.col + 1)
    return (0, 0)


def key_pos(mapping: Any, key: Any, offset: int = 0) -> Pos:
    """Position of `key` in a CommentedMap (falls back to the mapping's own position)."""
    if isinstance(mapping, CommentedMap) and key in mapping:
        return _shift(mapping.lc.key(key), offset)
    return node_pos(mapping, offset)


def value_pos(mapping: Any, key: Any, offset: int = 0) -> Pos:
    """Position of the value of `key` in a CommentedMap (the key's position when the value is null or unknown)."""
    if isinstance(mapping, CommentedMap) and key in mapping and mapping[key] is not None:
        raw = mapping.lc.value(key)
        if raw and raw[0] is not None:
            return _shift(raw, offset)
    return key_pos(mapping, key, offset)


def item_pos(seq: Any, index: int, offset: int = 0) -> Pos:
    """Position of item `index` of a CommentedSeq (falls back to the sequence's own position)."""
    if isinstance(seq, CommentedSeq) and 0 <= index < len(seq):
        return _shift(seq.lc.item(index), offset)
    return node_pos(seq, offset)


def _limit(where: Located, at: Any, message: str) -> YamlLoadError:
    """A refusal at an event (its start mark) or at a mark."""
    mark = getattr(at, "start_mark", at)
    pos = (mark.line + 1 + where.line_offset, mark.column + 1) if mark else (0, 0)
    return YamlLoadError(where.diag(pos, message))


def _marked(where: Located, err: MarkedYAMLError, what: str) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    pos = (mark.line + 1 + where.line_offset, mark.column + 1) if mark else (0, 0)
    problem = (err.problem or err.context or "invalid YAML").strip()
    ctx = err.context_mark
    ctx_line = ctx.line + 1 + where.line_offset if ctx else 0
    if isinstance(err, DuplicateKeyError) and ctx:
        problem = f"{problem.split(' with value')[0]} (first defined at line {ctx_line}); remove one of them"
    elif err.problem and err.context and ctx and mark is not ctx:
        problem += f" ({err.context.strip()} that starts at {ctx_line}:{ctx.column + 1})"
    return where.diag(pos, f"{what}: {problem}")


class _Events:
    """A ruamel parser stand-in that hands out a list of already converted events."""

    def __init__(self, events: list[Event]):
        self.events = events
        self.next = 0

    def check_event(self, *choices: type) -> bool:
        if self.next >= len(self.events):
            return False
        return not choices or isinstance(self.events[self.next], choices)

    def peek_event(self) -> Event:
        return self.events[self.next]

    def get_event(self) -> Event:
        self.next += 1
        return self.events[self.next - 1]

    def dispose(self) -> None:
        self.events = []


def _ruamel_event(e: Any) -> Event | None:
    """The ruamel twin of a PyYAML event; None for what the fast path leaves to ruamel (anchors, aliases, tags)."""
    name = type(e).__name__
    if name in ("AliasEvent",) or getattr(e, "anchor", None) is not None or getattr(e, "tag", None) is not None:
        return None
    marks = (e.start_mark, e.end_mark)
    if name == "ScalarEvent":  # libyaml says '' for plain style, ruamel None
        return ry.ScalarEvent(None, None, e.implicit, e.value, *marks, style=e.style or None)
    if name in ("SequenceStartEvent", "MappingStartEvent"):
        return getattr(ry, name)(None, None, e.implicit, *marks, flow_style=e.flow_style)
    if name == "DocumentStartEvent":
        return None if e.version or e.tags else ry.DocumentStartEvent(*marks, explicit=e.explicit)
    if name == "DocumentEndEvent":
        return ry.DocumentEndEvent(*marks, explicit=e.explicit)
    return getattr(ry, name)(*marks)  # stream start/end, sequence/mapping end


class _Guard:
    """Bounds a document from its event stream alone, before any node is built.

    Nesting depth, the number of aliases, aliases to a collection that is still open (a recursive structure)
    and the number of nodes the document would have with every alias expanded: one linear pass that raises
    at the first event over a limit, so a "billion laughs" or a 10^5-deep nesting is refused in milliseconds.
    Works on PyYAML's and ruamel's events alike (they share class and attribute names).
    """

    def __init__(self, where: Located, max_aliases: int, max_nodes: int, max_depth: int):
        self.where = where
        self.max_aliases, self.max_nodes, self.max_depth = max_aliases, max_nodes, max_depth
        self.aliases = 0
        self.total = 0
        self.sizes: dict[str, int] = {}  # expanded size of the node each anchor names (the latest definition)
        self.defined: dict[str, int] = {}  # anchor -> the event index of its latest definition
        self.stack: list[tuple[int, str | None]] = []  # (event index, anchor) of each open collection
        self.open_sizes: list[int] = []  # the expanded size so far of each open collection
        self.index = 0

    def check(self, event: Any) -> None:
        kind = type(event).__name__
        self.index += 1
        anchor = str(event.anchor) if getattr(event, "anchor", None) else None
        if kind in ("SequenceStartEvent", "MappingStartEvent"):
            if len(self.stack) >= self.max_depth:
                raise _limit(self.where, event, f"YAML nesting is deeper than {self.max_depth} levels; refusing it")
            if anchor:
                self.defined[anchor] = self.index
            self.stack.append((self.index, anchor))
            self.open_sizes.append(1)
            self._count(event, 1)
        elif kind in ("SequenceEndEvent", "MappingEndEvent") and self.stack:
            (opened, name), size = self.stack.pop(), self.open_sizes.pop()
            if name and self.defined.get(name) == opened:
                self.sizes[name] = size
            if self.open_sizes:
                self.open_sizes[-1] += size
        elif kind == "ScalarEvent":
            if anchor:
                self.defined[anchor], self.sizes[anchor] = self.index, 1
            self._add(event, 1)
        elif kind == "AliasEvent":
            self.aliases += 1
            if self.aliases > self.max_aliases:
                raise _limit(self.where, event, f"document uses more than {self.max_aliases} aliases; refusing it")
            if anchor in self.defined and any(opened == self.defined[anchor] for opened, _ in self.stack):
                raise _limit(self.where, event, f"alias *{anchor} refers to a collection that contains it; "
                             "refusing a recursive document")
            self._add(event, self.sizes.get(anchor or "", 1))

    def _add(self, event: Any, size: int) -> None:
        if self.open_sizes:
            self.open_sizes[-1] += size
        self._count(event, size)

    def _count(self, event: Any, size: int) -> None:
        self.total += size
        if self.total > self.max_nodes:
            raise _limit(self.where, event, f"document expands to more than {self.max_nodes} nodes through "
                         "aliases; refusing it" if self.aliases else
                         f"document has more than {self.max_nodes} nodes; refusing it")


def _libyaml_events(text: str, guard: _Guard) -> list[Event] | None:
    """libyaml's events for `text` as ruamel events, each checked by `guard` as it comes (over a limit raises
    YamlLoadError at once: no slower parser ever sees that text). None when ruamel must parse the text itself:
    libyaml is absent, the text has a syntax error (ruamel words the message) or anchors, aliases, tags or
    directives (ruamel's events carry those exactly)."""
    if _LIBYAML is None:
        return None
    converted: list[Event] | None = None if text.startswith("%") or "\n%" in text else []
    try:
        for event in _pyyaml.parse(text, Loader=_LIBYAML):
            guard.check(event)
            twin = _ruamel_event(event) if converted is not None else None
            if twin is None:
                converted = None  # ruamel parses this text itself, once the guard has seen all of it
            elif converted is not None:
                converted.append(twin)
    except _pyyaml.MarkedYAMLError as err:
        if "nesting depth" in str(err.problem):  # libyaml's own limit (1000), met while scanning ahead
            raise _limit(guard.where, err.problem_mark,
                         f"YAML nesting is deeper than 1000 levels (the limit is {guard.max_depth}); "
                         "refusing it") from None
        return None
    except _pyyaml.YAMLError:
        return None
    return converted


def _compose(yaml: YAML, events: list[Event]) -> Any:
    yaml._parser = _Events(events)  # type: ignore[attr-defined]  # ruamel's composer reads `loader.parser`
    return yaml.constructor.get_single_data()


def _fast_load(text: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> tuple[bool, Any]:
    """(True, document) when libyaml scanned `text` into events ruamel composes the same way; else (False, None).
    Raises YamlLoadError when the text is over a limit."""
    events = _libyaml_events(text, _Guard(Located("<text>"), MAX_ALIASES, max_nodes, max_depth))
    if events is None:
        return False, None
    try:
        return True, _compose(YAML(typ="rt"), events)
    except YAMLError:
        return False, None  # ruamel alone reports it, with its own message and position


def _load_error(where: Located, err: YAMLError | RecursionError) -> YamlLoadError:
    if isinstance(err, DuplicateKeyError):
        return YamlLoadError(_marked(where, err, "duplicate key"))
    if isinstance(err, MarkedYAMLError):
        return YamlLoadError(_marked(where, err, "YAML syntax error"))
    if isinstance(err, RecursionError):  # not reachable within MAX_DEPTH; kept so nothing escapes as a traceback
        return YamlLoadError(where.diag((0, 0), "YAML nesting is too deep; refusing it"))
    return YamlLoadError(where.diag((0, 0), f"YAML error: {err}"))


def _ruamel_load(text: str, guard: _Guard, where: Located) -> Any:
    try:
        events: list[Event] = []
        for event in YAML(typ="rt").parse(text):
            guard.check(event)
            events.append(event)
        return _compose(YAML(typ="rt"), events)
    except (YAMLError, RecursionError) as err:
        raise _load_error(where, err) from err


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def load_yaml_text(
    text: str,
    where: Located,
    *,
    max_aliases: int = MAX_ALIASES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    max_bytes: int = MAX_BYTES,
) -> Any:
    """Parse one YAML document; raise YamlLoadError with a positioned Diagnostic on any problem.

    Untrusted text is refused fast: over `max_bytes` before parsing, over the depth, alias or node limits at
    the first event that passes one (see `_Guard`), never after a slower second parse.
    """
    size = _utf8_size(text)
    if size > max_bytes:
        raise YamlLoadError(where.diag((0, 0), f"YAML text is {size} bytes, over the {max_bytes}-byte limit; "
                                       "split it"))
    events = _libyaml_events(text, _Guard(where, max_aliases, max_nodes, max_depth))
    if events is None:  # within every limit so far: ruamel parses it (and words a syntax error) itself
        return _ruamel_load(text, _Guard(where, max_aliases, max_nodes, max_depth), where)
    try:  # ruamel's own composer and constructor, so a duplicate key is worded as ruamel alone would
        return _compose(YAML(typ="rt"), events)
    except (YAMLError, RecursionError) as err:
        raise _load_error(where, err) from err


def read_text(file: Path, display: str, *, max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 file, refusing it before reading when it is over `max_bytes`."""
    where = Located(display)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise YamlLoadError(where.diag((0, 0), f"file is {size} bytes, over the {max_bytes}-byte limit; "
                                           "split it"))
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise YamlLoadError(where.diag((0, 0), f"file is not valid UTF-8 (byte {err.start})")) from err
    except OSError as err:
        raise YamlLoadError(where.diag((0, 0), f"cannot read file: {err.strerror}")) from err


def load_yaml_file(file: Path, display: str, *, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a YAML file; raise YamlLoadError on any problem."""
    return load_yaml_text(read_text(file, display, max_bytes=max_bytes), Located(display))


def to_plain(node: Any) -> Any:
    """Convert ruamel nodes to plain dict/list/str/int/float/bool/None (aliases were already bounded)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)
