"""Template files in the writable (first) bmad folder: safe names, validation by the bmad loader, atomic writes.

Written files get the mode of any ordinary new file (0666 less the umask: 0644 under the usual 022), or keep
the mode of the file they replace, as an in-place write would.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from api.problems import Problem
from bmad import load_bmad

# a template name: letters, digits, '.', '_', '-', never starting with '.' (hidden) or '-' (an option)
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]*$"
NAME = re.compile(NAME_PATTERN)
SUFFIX = ".yaml"
write_lock = threading.Lock()


def file_name(name: str) -> str:
    """The template's file name (`name`, suffixed with .yaml when it lacks it), or a 422 problem."""
    if not NAME.fullmatch(name):
        raise Problem(422, f"template name {name!r} must match {NAME.pattern} (letters, digits, '.', '_', '-'; "
                      "not starting with '.' or '-')",
                      type="urn:botarmy:problem:validation",
                      errors=[{"loc": ["path", "name"], "msg": "invalid template name", "type": "invalid_name"}])
    return name if name.endswith(SUFFIX) else f"{name}{SUFFIX}"


def inside(folder: Path, file: str) -> Path:
    """folder/file, resolved; a 422 problem when it would land anywhere but directly inside `folder`."""
    root = folder.resolve()
    target = (root / file).resolve()
    if target.parent != root:
        raise Problem(422, f"template {file!r} would resolve outside {folder}", type="urn:botarmy:problem:validation",
                      errors=[{"loc": ["path", "name"], "msg": "path escapes the templates folder",
                               "type": "path_escape"}])
    return target


def find(dirs: Sequence[Path], file: str) -> Path | None:
    """The file that wins for `file` (later folders override earlier ones)."""
    for d in reversed(dirs):
        candidate = d / "templates" / file
        if candidate.is_file() and inside(d / "templates", file) == candidate.resolve():
            return candidate
    return None


def validation_errors(file: str, text: str) -> list[str]:
    """Load `text` as templates/<file> of a scratch folder; the loader's errors for it, as `path:line:col: msg`."""
    with tempfile.TemporaryDirectory(prefix="botarmy-tmpl-") as tmp:
        root = Path(tmp)
        (root / "templates").mkdir()
        (root / "templates" / file).write_text(text, encoding="utf-8")
        catalog = load_bmad([root])
    shown = f"templates/{file}"
    errors = [
        str(d).replace(f"{root.as_posix()}/", "")
        for d in catalog.errors
        if d.path.endswith(shown)
    ]
    if not errors and file.removesuffix(SUFFIX) not in catalog.templates:
        errors.append(f"{shown}:1:1: not a template: expected a `template:` mapping and `sections:`")
    return errors


def _new_file(folder: Path) -> tuple[int, Path]:
    """A fresh `.tmp-*.part` file in `folder`, created as any new file is (mode 0666 less the umask)."""
    while True:
        tmp = folder / f".tmp-{secrets.token_hex(8)}.part"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def write_atomically(target: Path, text: str) -> None:
    """Write `target` through a temporary file and a rename: readers see the old text or the new, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(target.parent)
    try:
        if target.exists():
            os.fchmod(fd, stat.S_IMODE(target.stat().st_mode))
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
