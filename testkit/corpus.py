"""Test corpora from npm: the packages pinned in testkit/corpora.toml, checked and unpacked into a cache.

`python -m testkit.corpus fetch` (`make corpus`) fetches every pinned package that is not cached yet; tests reach
one through `ensure()`, which reads the cache and fetches only what is missing. No Node is needed: the registry
is read over HTTP, and the tarball must match the sha512 integrity pinned for it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("corpora.toml")
MARKER = ".integrity"  # written last, inside the temporary tree: a corpus folder without it was never finished
MAX_BYTES = 256 * 1024 * 1024  # downloaded, and unpacked
TIMEOUT_S = 30
STALE_S = 3600  # a temporary folder this old is not another fetch under way
ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"


class CorpusError(Exception):
    """A corpus that cannot be had; the message is one line that says what to do."""


class CorpusConfigError(CorpusError):
    """The pins or the registry address are wrong or missing (exit 2)."""


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    integrity: str  # the registry's dist.integrity: "sha512-<base64>"

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


def load_pins(path: Path = PINS) -> list[Pin]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CorpusConfigError(f"{path}: {e}") from None
    pins: list[Pin] = []
    for package, versions in data.items():
        if not isinstance(versions, dict):
            raise CorpusConfigError(f'{path}: [{package}] must be a table of "<version>" = "sha512-<base64>"')
        for version, integrity in versions.items():
            if not (isinstance(integrity, str) and integrity.startswith("sha512-")):
                raise CorpusConfigError(f'{path}: {package} "{version}": the integrity must be "sha512-<base64>", '
                                        "the registry's dist.integrity for that version")
            pins.append(Pin(package, version, integrity))
    return pins


def _version_key(version: str) -> tuple[int, ...]:
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(n) for n in found.groups()) if found else (-1,)


def pin_for(package: str, major: int, path: Path = PINS) -> Pin:
    """The highest pinned version of `package` with that major version."""
    pins = [p for p in load_pins(path) if p.package == package and _version_key(p.version)[0] == major]
    if not pins:
        raise CorpusConfigError(f"{path}: no {package} {major}.x version is pinned: add one line under [{package}]")
    return max(pins, key=lambda p: _version_key(p.version))


def cache_root() -> Path:
    if given := os.environ.get("BOTARMY_CACHE_DIR"):
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "botarmy"


def corpus_dir(pin: Pin, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "corpora" / f"{pin.package.replace('/', '+')}-{pin.version}"


def _npmrc_registry(npmrc: Path) -> str | None:
    try:
        lines = npmrc.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, eq, value = line.partition("=")
        if eq and key.strip() == "registry" and (value := value.strip().strip("\"'")):
            return value
    return None


def registry(project: Path = ROOT) -> str:
    """The npm registry: BOTARMY_NPM_REGISTRY, npm's own variables, a `registry=` line in the project's or the
    user's .npmrc, else what `npm config get registry` says when npm is on PATH."""
    found: list[tuple[str, str | None]] = [(name, os.environ.get(name)) for name in
                                           ("BOTARMY_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY")]
    found += [(str(rc), _npmrc_registry(rc)) for rc in (project / ".npmrc", Path.home() / ".npmrc")]
    for source, value in found:
        if value and value.strip():
            return _checked(value.strip(), source)
    if npm := shutil.which("npm"):
        try:
            done = subprocess.run([npm, "config", "get", "registry"], cwd=project, capture_output=True, text=True,
                                  timeout=60)
        except (OSError, subprocess.SubprocessError):
            done = None
        value = done.stdout.strip() if done and done.returncode == 0 else ""
        if value and value not in ("undefined", "null"):
            return _checked(value, "`npm config get registry`")
    raise CorpusConfigError("no npm registry is configured: set BOTARMY_NPM_REGISTRY to the address of an npm "
                            "registry (or `registry=` in .npmrc)")


def _checked(address: str, source: str) -> str:
    if not re.match(r"https?://[^/]", address):
        raise CorpusConfigError(f"{source}: npm registry {address!r} is not an http(s) address: "
                                "set BOTARMY_NPM_REGISTRY to one")
    return address.rstrip("/")


def cached(pin: Pin, cache: Path | None = None) -> Path | None:
    """The unpacked package when the cache holds it complete and at the pinned integrity; no network."""
    target = corpus_dir(pin, cache)
    return target if _complete(target, pin) else None


def _complete(target: Path, pin: Pin) -> bool:
    try:
        return (target / MARKER).read_text(encoding="utf-8").strip() == pin.integrity
    except OSError:
        return False


def ensure(pin: Pin, cache: Path | None = None) -> Path:
    """The unpacked package (the tarball's `package/` folder): from the cache, else fetched into it."""
    return cached(pin, cache) or fetch(pin, cache)


def fetch(pin: Pin, cache: Path | None = None) -> Path:
    target = corpus_dir(pin, cache)
    address = registry()
    try:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True, headers={"User-Agent": "botarmy-tests"}) as http:
            tarball = _tarball_url(http, address, pin)
            data = _download(http, tarball, pin)
    except httpx.HTTPError as e:
        raise CorpusError(f"{pin.spec} is not cached in {target.parent} and the registry {address} is unreachable "
                          f"({type(e).__name__}: {e}): run `make corpus` where it is reachable, or set "
                          "BOTARMY_NPM_REGISTRY to a reachable npm registry") from None
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != pin.integrity:
        raise CorpusError(f"{pin.spec}: the tarball from {tarball} has integrity {digest}, not the pinned "
                          f"{pin.integrity}: refusing it (nothing was cached)")
    return _install(data, target, pin)


def _get(http: httpx.Client, url: str, pin: Pin, **kw: Any) -> httpx.Response:
    response = http.get(url, **kw)
    if response.status_code != 200:
        raise CorpusError(f"{pin.spec}: {url} answered HTTP {response.status_code}: check BOTARMY_NPM_REGISTRY")
    return response


def _tarball_url(http: httpx.Client, address: str, pin: Pin) -> str:
    """The tarball address the registry gives for the pinned version, once its integrity agrees with the pin."""
    url = f"{address}/{quote(pin.package, safe='@')}"
    try:
        dist = _get(http, url, pin, headers={"Accept": ACCEPT}).json()["versions"][pin.version]["dist"]
        published, tarball = dist["integrity"], dist["tarball"]
    except (ValueError, KeyError, TypeError):
        raise CorpusError(f"{pin.spec}: {url} lists no such version with a tarball and an integrity") from None
    if published != pin.integrity:
        raise CorpusError(f"{pin.spec}: the registry publishes integrity {published}, but {PINS.name} pins "
                          f"{pin.integrity}: refusing it (nothing was cached)")
    return str(httpx.URL(url + "/").join(tarball))


def _download(http: httpx.Client, url: str, pin: Pin) -> bytes:
    with http.stream("GET", url) as response:
        if response.status_code != 200:
            raise CorpusError(f"{pin.spec}: {url} answered HTTP {response.status_code}: check BOTARMY_NPM_REGISTRY")
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > MAX_BYTES:
                raise CorpusError(f"{pin.spec}: {url} is larger than {MAX_BYTES >> 20} MiB: refusing it")
    return bytes(data)


def _install(data: bytes, target: Path, pin: Pin) -> Path:
    """Unpack into a temporary folder beside `target`, then rename it into place: never a half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for left in target.parent.glob(f".{target.name}.*"):  # by a fetch that was killed, or is long gone
        if time.time() - left.stat().st_mtime > STALE_S:
            shutil.rmtree(left, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        unpack(data, tmp, pin.spec)
        (tmp / MARKER).write_text(pin.integrity + "\n", encoding="utf-8")
        if target.exists() and not _complete(target, pin):  # unfinished or of another pin
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
            os.rename(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _complete(target, pin):  # not another process that got there first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    return "a FIFO" if member.isfifo() else "not a regular file"


def unpack(data: bytes, dest: Path, spec: str) -> None:
    """An npm tarball's files into `dest`, its first folder (`package/`) stripped as npm does: regular files and
    folders only, none outside `dest`; anything else refuses the whole tarball."""
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                if not (member.isfile() or member.isdir()):
                    raise CorpusError(f"{spec}: tarball member {member.name!r} is {_kind(member)}: refusing the "
                                      "tarball (only files and folders are unpacked)")
                path = PurePosixPath(member.name)
                if path.is_absolute() or ".." in path.parts:
                    raise CorpusError(f"{spec}: tarball member {member.name!r} points outside the package: "
                                      "refusing the tarball")
                if len(path.parts) < 2:
                    continue
                out = dest.joinpath(*path.parts[1:])
                if member.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                total += member.size
                if total > MAX_BYTES:
                    raise CorpusError(f"{spec}: the tarball unpacks to more than {MAX_BYTES >> 20} MiB: refusing it")
                out.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                with out.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                out.chmod(0o755 if member.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise CorpusError(f"{spec}: the tarball is not a readable .tgz ({e})") from None


def bmad_v4() -> Path:
    """The unpacked bmad-method package of the highest pinned 4.x version: bmad-core/, common/, expansion-packs/."""
    return ensure(pin_for("bmad-method", 4))


INSTALL_MARKER = ".installed"
INSTALL_ARGS = ("--modules", "bmm", "--tools", "claude-code", "--user-name", "Tester", "--yes")


def bmad_v6_versions(path: Path = PINS) -> list[Pin]:
    """Every pinned 6.x bmad-method, lowest first (6.0.4: workflow.yaml style; 6.12.0: skills)."""
    return sorted((p for p in load_pins(path) if p.package == "bmad-method" and _version_key(p.version)[0] == 6),
                  key=lambda p: _version_key(p.version))


def install_dir(pin: Pin, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "installs" / f"{pin.package.replace('/', '+')}-{pin.version}"


def bmad_v6_install(pin: Pin, cache: Path | None = None) -> Path:
    """A project root as a user has it after `npx bmad-method install` (core + bmm, Claude Code): the published
    installer of the pinned, integrity-checked package, run non-interactively (`--yes`) with its npm
    dependencies from the registry; cached beside the corpus. No other network is needed (checked: the installer
    of 6.0.4 and 6.12.0 completes with only the npm registry reachable)."""
    target = install_dir(pin, cache)
    if _installed(target, pin):
        return target
    package = ensure(pin, cache)
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        raise CorpusError(f"{pin.spec}: building its install needs node and npm on PATH (the published installer "
                          "is a Node program)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tool = tmp / "package"
        shutil.copytree(package, tool, ignore=shutil.ignore_patterns(MARKER))
        env = {**os.environ, "HOME": str(tmp / "home"), "npm_config_registry": registry(),
               "npm_config_update_notifier": "false"}
        _run([npm, "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], tool, env, pin)
        bin_rel = _package_bin(tool)
        project = tmp / "project"
        project.mkdir()
        _run([node, str(tool / bin_rel), "install", "--directory", str(project), *INSTALL_ARGS], tool, env, pin)
        if not (project / "_bmad" / "_config" / "manifest.yaml").is_file():
            raise CorpusError(f"{pin.spec}: the installer finished without writing _bmad/_config/manifest.yaml")
        (project / INSTALL_MARKER).write_text(pin.integrity + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.rename(project, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _installed(target: Path, pin: Pin) -> bool:
    try:
        return (target / INSTALL_MARKER).read_text(encoding="utf-8").strip() == pin.integrity
    except OSError:
        return False


def _package_bin(tool: Path) -> str:
    import json

    bins = json.loads((tool / "package.json").read_text(encoding="utf-8")).get("bin") or {}
    return str(bins.get("bmad-method") or bins.get("bmad") if isinstance(bins, dict) else bins)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], pin: Pin) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        raise CorpusError(f"{pin.spec}: {' '.join(cmd[:2])} failed to run: {e}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CorpusError(f"{pin.spec}: `{' '.join(Path(c).name for c in cmd[:3])}` exited {done.returncode}: "
                          f"{tail[0]}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "fetch":
        sys.stderr.write("usage: python -m testkit.corpus fetch [PACKAGE@VERSION ...]" + "\n")
        return 2
    try:
        pins = load_pins()
        chosen = [p for p in pins if not argv[1:] or p.spec in argv[1:]]
        if unknown := sorted(set(argv[1:]) - {p.spec for p in pins}):
            raise CorpusConfigError(f"{PINS}: {', '.join(unknown)} is not pinned: add it there first")
        for pin in chosen:
            was = cached(pin)
            print(f"{pin.spec}: {'cached' if was else 'fetched'} in {was or ensure(pin)}")  # noqa: T201 - what the command fetched is its output
            if pin.package == "bmad-method" and _version_key(pin.version)[0] == 6:
                print(f"{pin.spec}: installed in {bmad_v6_install(pin)}")  # noqa: T201
    except CorpusError as e:
        sys.stderr.write(f"error: {e}" + "\n")
        return 2 if isinstance(e, CorpusConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
