"""The test-corpus fetcher (testkit/corpus.py) against a tiny local registry: integrity, safe unpacking, the cache,
the registry address, and what a test sees offline."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testkit import corpus
from tests.conftest import ROOT, free_port, subprocess_env, upstream_corpus

PACKAGE, VERSION = "fake-bmad", "1.2.3"
REGISTRY_VARS = ("BOTARMY_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY")


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tgz(*members: tuple[str, bytes] | tarfile.TarInfo) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, content = member
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


GOOD = tgz(("package/package.json", b'{"name": "fake-bmad"}'), ("package/bmad-core/workflows/w.yaml", b"a: 1\n"),
           ("package/common/tasks/create-doc.md", b"# create doc\n"), ("package/tools/run.sh", b"#!/bin/sh\n"))


class FakeRegistry:
    """An npm registry on 127.0.0.1 with one package version: its packument and its tarball."""

    def __init__(self, tarball: bytes, published: str | None = None) -> None:
        self.tarball, self.published, self.requests = tarball, published or integrity(tarball), []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                registry.requests.append(self.path)
                if self.path == f"/{PACKAGE}":
                    body = json.dumps({"name": PACKAGE, "versions": {VERSION: {"dist": {
                        "integrity": registry.published,
                        "tarball": f"{registry.url}/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"}}}}).encode()
                elif self.path == f"/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz":
                    body = registry.tarball
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOTARMY_CACHE_DIR", str(tmp_path / "cache"))
    for name in REGISTRY_VARS[1:]:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    started: list[FakeRegistry] = []

    def start(tarball: bytes, published: str | None = None) -> FakeRegistry:
        started.append(FakeRegistry(tarball, published))
        monkeypatch.setenv("BOTARMY_NPM_REGISTRY", started[-1].url)
        return started[-1]

    yield start
    for registry in started:
        registry.stop()


def closed_registry(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BOTARMY_NPM_REGISTRY", url)
    return url


def cache_entries(cache: Path) -> list[str]:
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) if cache.exists() else []


def test_fetch_unpacks_the_package_folder_into_the_cache_when_the_integrity_agrees(cache: Path, serve) -> None:
    registry = serve(GOOD)
    pin = corpus.Pin(PACKAGE, VERSION, integrity(GOOD))
    root = corpus.ensure(pin)
    assert root == cache / "corpora" / f"{PACKAGE}-{VERSION}"
    assert (root / "bmad-core" / "workflows" / "w.yaml").read_text() == "a: 1\n"
    assert (root / "common" / "tasks" / "create-doc.md").is_file()
    assert stat.S_IMODE((root / "tools" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "package.json").stat().st_mode) == 0o644
    assert [p.name for p in (cache / "corpora").iterdir()] == [root.name]  # no temporary folder left
    assert registry.requests == [f"/{PACKAGE}", f"/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"]


def test_cached_corpus_is_used_with_no_network(cache: Path, serve, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = serve(GOOD)
    pin = corpus.Pin(PACKAGE, VERSION, integrity(GOOD))
    root = corpus.ensure(pin)
    registry.stop()
    closed_registry(monkeypatch)
    assert corpus.ensure(pin) == root
    assert len(registry.requests) == 2  # the first fetch only


def test_make_corpus_with_the_real_pins_answers_from_the_cache_when_the_registry_is_down() -> None:
    root = upstream_corpus().root  # cached by now, as every test of the upstream core needs it
    done = subprocess.run([sys.executable, "-m", "testkit.corpus", "fetch"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=subprocess_env(BOTARMY_CACHE_DIR=str(root.parents[1]),
                                                         BOTARMY_NPM_REGISTRY=f"http://127.0.0.1:{free_port()}"))
    assert done.returncode == 0, done.stderr
    pin = corpus.pin_for("bmad-method", 4)
    assert f"{pin.spec}: cached in {root}" in done.stdout.splitlines()


def test_tarball_with_a_wrong_integrity_is_refused_and_nothing_is_cached(cache: Path, serve) -> None:
    tampered = tgz(("package/bmad-core/workflows/w.yaml", b"a: 2\n"))
    serve(tampered, published=integrity(GOOD))  # the registry vouches for the pinned integrity, sends other bytes
    with pytest.raises(corpus.CorpusError) as caught:
        corpus.ensure(corpus.Pin(PACKAGE, VERSION, integrity(GOOD)))
    message = str(caught.value)
    assert message.startswith(f"{PACKAGE}@{VERSION}: the tarball from ") and "\n" not in message
    assert f"has integrity {integrity(tampered)}, not the pinned {integrity(GOOD)}: refusing it" in message
    assert cache_entries(cache) == []


def test_registry_publishing_another_integrity_than_the_pin_is_refused(cache: Path, serve) -> None:
    registry = serve(GOOD, published=integrity(b"something else"))
    with pytest.raises(corpus.CorpusError, match=re.escape(
            f"{PACKAGE}@{VERSION}: the registry publishes integrity {integrity(b'something else')}, but "
            f"corpora.toml pins {integrity(GOOD)}: refusing it (nothing was cached)")):
        corpus.ensure(corpus.Pin(PACKAGE, VERSION, integrity(GOOD)))
    assert registry.requests == [f"/{PACKAGE}"]  # the tarball is not even downloaded
    assert cache_entries(cache) == []


def test_member_escaping_the_package_is_refused_and_nothing_is_written(cache: Path, serve, tmp_path: Path) -> None:
    evil = tgz(("package/bmad-core/ok.md", b"ok\n"), ("package/../../../evil.txt", b"owned\n"))
    serve(evil)
    with pytest.raises(corpus.CorpusError, match=re.escape(
            f"{PACKAGE}@{VERSION}: tarball member 'package/../../../evil.txt' points outside the package: "
            "refusing the tarball")):
        corpus.ensure(corpus.Pin(PACKAGE, VERSION, integrity(evil)))
    assert [p for p in tmp_path.rglob("evil.txt")] == [] and not (tmp_path.parent / "evil.txt").exists()
    assert cache_entries(cache) == ["corpora"]  # the temporary folder is gone with what it held


@pytest.mark.parametrize(("member", "says"), [
    (("/etc/botarmy-evil", b"x"), "points outside the package"),
    (special("package/link", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
    (special("package/hard", tarfile.LNKTYPE, "package/package.json"), "is a hard link"),
    (special("package/dev", tarfile.CHRTYPE), "is a device"),
    (special("package/pipe", tarfile.FIFOTYPE), "is a FIFO"),
], ids=["absolute", "symlink", "hardlink", "device", "fifo"])
def test_members_other_than_files_and_folders_inside_the_package_are_refused(
        tmp_path: Path, member: tuple[str, bytes] | tarfile.TarInfo, says: str) -> None:
    with pytest.raises(corpus.CorpusError, match=f"^x@1: tarball member '.*' {says}"):
        corpus.unpack(tgz(("package/package.json", b"{}"), member), tmp_path, "x@1")
    assert not (tmp_path / "link").exists() and not (tmp_path / "dev").exists()


def test_unfinished_cache_folder_is_fetched_again_and_replaced(cache: Path, serve) -> None:
    pin = corpus.Pin(PACKAGE, VERSION, integrity(GOOD))
    half = corpus.corpus_dir(pin)
    (half / "bmad-core").mkdir(parents=True)
    (half / "bmad-core" / "half-written.md").write_text("…")  # no integrity marker: never finished
    assert corpus.cached(pin) is None
    registry = serve(GOOD)
    root = corpus.ensure(pin)
    assert root == half and len(registry.requests) == 2
    assert not (root / "bmad-core" / "half-written.md").exists() and (root / "bmad-core" / "workflows").is_dir()
    assert [p.name for p in (cache / "corpora").iterdir()] == [root.name]


def test_folder_left_by_a_killed_fetch_is_never_used_and_cleared_later(cache: Path, serve) -> None:
    pin = corpus.Pin(PACKAGE, VERSION, integrity(GOOD))
    killed = corpus.corpus_dir(pin).with_name(f".{PACKAGE}-{VERSION}.k1lled")
    (killed / "bmad-core").mkdir(parents=True)
    (killed / corpus.MARKER).write_text(pin.integrity)
    recent = killed.with_name(f".{PACKAGE}-{VERSION}.recent")
    recent.mkdir()  # perhaps another fetch under way: left alone
    old = time.time() - corpus.STALE_S - 60
    os.utime(killed, (old, old))
    assert corpus.cached(pin) is None
    serve(GOOD)
    root = corpus.ensure(pin)
    assert sorted(p.name for p in (cache / "corpora").iterdir()) == [recent.name, root.name]


def test_unreachable_registry_and_no_cache_is_one_line_saying_how_to_fetch(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_registry(monkeypatch)
    with pytest.raises(corpus.CorpusError) as caught:
        corpus.ensure(corpus.Pin(PACKAGE, VERSION, integrity(GOOD)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{PACKAGE}@{VERSION} is not cached in {cache / 'corpora'} and the registry {url} "
                              "is unreachable (ConnectError")
    assert message.endswith("run `make corpus` where it is reachable, or set BOTARMY_NPM_REGISTRY to a reachable "
                            "npm registry")


def test_a_test_that_needs_the_corpus_fails_offline_and_is_never_skipped(tmp_path: Path) -> None:
    tests = ["tests/bmad/test_bmad_upstream.py::test_upstream_core_is_present_with_every_workflow_the_tests_cover",
             "tests/bmad/test_bmad_compile.py::test_greenfield_steps_get_derived_ids_templates_and_handoffs"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(COLUMNS="1000", BOTARMY_CACHE_DIR=str(tmp_path / "empty"),
                                             BOTARMY_NPM_REGISTRY=f"http://127.0.0.1:{free_port()}"))
    assert done.returncode == 1, done.stdout
    pin = corpus.pin_for("bmad-method", 4)
    summary = [ln for ln in done.stdout.splitlines() if ln.startswith(("FAILED", "ERROR", "SKIPPED"))]
    assert len(summary) == 2 and all(f"{pin.spec} is not cached in " in ln and "`make corpus`" in ln
                                     for ln in summary), done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1] and "2 passed" not in done.stdout
    assert cache_entries(tmp_path / "empty") == []


@pytest.fixture
def no_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No registry configured anywhere: no variables, an empty home, no npm on PATH; returns the project folder."""
    for name in REGISTRY_VARS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


def test_registry_comes_from_the_variables_then_npmrc_files_then_npm(
        no_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(corpus.CorpusConfigError, match="^no npm registry is configured: set BOTARMY_NPM_REGISTRY "):
        corpus.registry(no_registry)
    npm = tmp_path / "bin" / "npm"
    npm.write_text("#!/bin/sh\n[ \"$1 $2 $3\" = 'config get registry' ] && echo http://from-npm.invalid/\n")
    npm.chmod(0o755)
    assert corpus.registry(no_registry) == "http://from-npm.invalid"
    (tmp_path / "home" / ".npmrc").write_text("@acme:registry=http://scoped.invalid/\nregistry = http://home.invalid/\n")
    assert corpus.registry(no_registry) == "http://home.invalid"
    (no_registry / ".npmrc").write_text("; project settings\nregistry=https://project.invalid/npm/\n")
    assert corpus.registry(no_registry) == "https://project.invalid/npm"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://upper.invalid")
    assert corpus.registry(no_registry) == "http://upper.invalid"
    monkeypatch.setenv("npm_config_registry", "http://lower.invalid")
    assert corpus.registry(no_registry) == "http://lower.invalid"
    monkeypatch.setenv("BOTARMY_NPM_REGISTRY", "http://ours.invalid/")
    assert corpus.registry(no_registry) == "http://ours.invalid"


def test_registry_that_is_not_an_http_address_names_where_it_came_from(
        no_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (no_registry / ".npmrc").write_text("registry=file:///srv/npm\n")
    with pytest.raises(corpus.CorpusConfigError, match=re.escape(
            f"{no_registry / '.npmrc'}: npm registry 'file:///srv/npm' is not an http(s) address")):
        corpus.registry(no_registry)


def test_pins_hold_several_versions_and_the_v4_tests_take_the_highest_4x(tmp_path: Path) -> None:
    pins = tmp_path / "corpora.toml"
    pins.write_text('[bmad-method]\n"4.9.0" = "sha512-AA=="\n"4.44.3" = "sha512-BB=="\n"6.12.0" = "sha512-CC=="\n')
    assert [p.spec for p in corpus.load_pins(pins)] == ["bmad-method@4.9.0", "bmad-method@4.44.3",
                                                         "bmad-method@6.12.0"]
    assert corpus.pin_for("bmad-method", 4, pins) == corpus.Pin("bmad-method", "4.44.3", "sha512-BB==")
    assert corpus.pin_for("bmad-method", 6, pins).version == "6.12.0"
    with pytest.raises(corpus.CorpusConfigError, match="no bmad-method 5.x version is pinned"):
        corpus.pin_for("bmad-method", 5, pins)
    pins.write_text('[bmad-method]\n"4.44.3" = "504f15fa85ff91434cb0e6cd9bc91734ee22d4f7"\n')
    with pytest.raises(corpus.CorpusConfigError, match='bmad-method "4.44.3": the integrity must be "sha512-'):
        corpus.load_pins(pins)


def test_the_real_pins_pin_a_bmad_v4_with_its_core_and_expansion_packs() -> None:
    found = upstream_corpus()
    assert found.root == corpus.corpus_dir(corpus.pin_for("bmad-method", 4))
    assert (found.core / "core-config.yaml").is_file() and (found.common / "tasks" / "create-doc.md").is_file()
    assert sorted(p.name for p in found.expansion_packs.iterdir() if p.is_dir())  # at least one pack


def test_fetch_of_a_version_that_is_not_pinned_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert corpus.main(["fetch", "bmad-method@0.0.1"]) == 2
    assert capsys.readouterr().err == "error: " f"{corpus.PINS}: bmad-method@0.0.1 is not pinned: add it there first\n"


def source_files() -> list[Path]:
    tests = [p for p in (ROOT / "tests").rglob("*") if p.suffix in (".py", ".toml", ".ini", ".cfg")]
    tools = [*(ROOT / "bench").glob("*.py"), *(ROOT / "testkit").rglob("*.py"), *(ROOT / "chaos").glob("*.py")]
    return sorted([*tests, *tools, ROOT / "Makefile", ROOT / ".ci" / "run",
                   ROOT / "pyproject.toml"])


# built from pieces so this file does not match itself
SIBLING = [re.compile(r"\.\.[/\\]+" + "sha" + "red"), re.compile("[\"']" + "sha" + "red[\"']"),
           re.compile("bmad" + "-v4")]


def test_no_test_source_reads_the_folder_beside_the_project() -> None:
    files = source_files()
    assert len(files) > 50 and ROOT / "tests" / "conftest.py" in files
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if any(r.search(line) for r in SIBLING)]
    assert found == []
