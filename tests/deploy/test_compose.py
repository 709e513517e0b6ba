"""The deployment files, checked without a Docker engine: docker-compose.yml, Dockerfile, .dockerignore."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from pydantic import AliasChoices
from ruamel.yaml import YAML

from botarmy.settings import Settings
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("api", "worker", "migrate")
REQUIRED_ENV = ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "BOTARMY_MODEL", "BOTARMY_TASK_QUEUE")
ENV_READ = re.compile(r"""(?:os\.environ\[|os\.environ\.get\(|getenv\()\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
ENV_MENTION = re.compile(r"os\.environ|getenv\(")
# bench/, chaos/ and testkit/ are developer tooling that never runs in the deployment
NOT_OUR_CODE = {".venv", "tests", ".git", "build", "dist", "node_modules", ".botarmy", "bench", "chaos", "testkit"}
# Modules that read a variable named by data, and where the names they read by default are declared.
# (A providers file may name other key variables; a deployment that uses one adds it to the compose env.)
DYNAMIC_ENV_READERS = {
    "botarmy/cli/serve.py": "botarmy.cli.serve:INTERNAL_ENV_NAMES",
    "providers/config.py": "providers.config:DEFAULT_KEY_ENV",
    "botarmy/cli/providers.py": "providers.config:DEFAULT_KEY_ENV",
    "providers/pin.py": "providers.config:DEFAULT_KEY_ENV",
    "providers/redact.py": "providers.config:DEFAULT_KEY_ENV",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def settings_env_names() -> set[str]:
    """Every variable Settings reads: BOTARMY_<FIELD>, or the field's aliases when it has them."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c.upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def names_in(ref: str) -> set[str]:
    """The variable names held by `module:attribute` (a mapping's values, or an iterable of names)."""
    module, _, attr = ref.partition(":")
    value = getattr(importlib.import_module(module), attr)
    items = value.values() if isinstance(value, dict) else value
    return {v for v in items if isinstance(v, str)}


def env_read_by_code() -> dict[str, list[str]]:
    """Names our code (not tests, not the venv) reads straight from the environment, with where."""
    found: dict[str, list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if NOT_OUR_CODE & set(rel.parts):
            continue
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            names = set(ENV_READ.findall(line))
            if ENV_MENTION.search(line) and not names and not line.lstrip().startswith("#"):
                declared = DYNAMIC_ENV_READERS.get(rel.as_posix())
                assert declared, (
                    f"{rel}:{lineno} reads a variable whose name is data ({line.strip()}); "
                    "list where those names are declared in DYNAMIC_ENV_READERS"
                )
                names = names_in(declared)
            for name in names:
                found.setdefault(name, []).append(f"{rel}:{lineno}")
    return found


def parse_port(spec: Any) -> tuple[str, str]:
    if isinstance(spec, dict):
        return str(spec.get("published")), str(spec["target"])
    host, _, container = str(spec).rpartition(":")
    return host.rsplit(":", 1)[-1], container.split("/")[0]


# services, images, ports


def test_compose_has_every_service_of_a_deployment(services):
    assert {"postgresql", "temporal", "temporal-ui", "redis", "api", "worker"} <= set(services)


def test_infrastructure_uses_pinned_official_images(services):
    assert services["postgresql"]["image"].startswith("postgres:16")
    assert re.fullmatch(r"temporalio/auto-setup:\d+\.\d+\.\d+", services["temporal"]["image"])
    assert re.fullmatch(r"temporalio/ui:\d+\.\d+\.\d+", services["temporal-ui"]["image"])
    assert services["redis"]["image"].startswith("redis:7")


def test_app_services_build_this_project(services):
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file(), name
    assert services["api"]["command"][:2] == ["botarmy", "serve"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    assert services["migrate"]["command"] == ["botarmy", "db", "upgrade"]


def test_published_ports_are_the_documented_ones(services):
    assert ("8000", "8000") in [parse_port(p) for p in services["api"]["ports"]]
    assert ("8233", "8080") in [parse_port(p) for p in services["temporal-ui"]["ports"]]
    assert ("7233", "7233") in [parse_port(p) for p in services["temporal"]["ports"]]
    api_cmd = services["api"]["command"]
    assert api_cmd[api_cmd.index("--port") + 1] == "8000" and api_cmd[api_cmd.index("--host") + 1] == "0.0.0.0"


def test_worker_service_scales_with_docker_compose_scale(services):
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "deploy" not in worker or "replicas" not in worker["deploy"] or worker["deploy"]["replicas"] != 1


# health and start order


def test_every_service_has_a_healthcheck_or_says_why_not(services):
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        if check.get("disable"):
            assert svc.get("x-healthcheck-reason"), f"{name}: healthcheck disabled without x-healthcheck-reason"
            continue
        test = check.get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"


def test_healthchecks_probe_what_each_service_serves(services):
    def cmd(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"][1:])

    assert "pg_isready" in cmd("postgresql")
    assert "redis-cli ping" in cmd("redis")
    assert "temporal:7233" in cmd("temporal")
    assert "/health" in cmd("api") and "deploy/healthcheck.py" in cmd("api")
    assert "deploy/healthcheck.py worker" in cmd("worker")


def test_dependencies_wait_for_health_not_just_start(services):
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on without conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), (name, dep, condition)
            if condition == "service_healthy":
                assert not (services[dep].get("healthcheck") or {}).get("disable"), (name, dep)
            else:
                assert services[dep].get("restart") == "no", f"{dep} is waited for to finish but restarts"
    assert services["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        for dep in ("postgresql", "redis", "temporal"):
            assert deps[dep]["condition"] == "service_healthy", (name, dep)
        assert deps["migrate"]["condition"] == "service_completed_successfully"


# configuration


def test_temporal_runs_on_postgresql_in_its_own_database(services):
    env = env_of(services["temporal"])
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert str(env["DB_PORT"]) == "5432"
    assert env["POSTGRES_USER"] and env["POSTGRES_PWD"]
    app_db = env_of(services["postgresql"])["POSTGRES_DB"]
    assert {env.get("DBNAME", "temporal"), env.get("VISIBILITY_DBNAME", "temporal_visibility")}.isdisjoint({app_db})
    assert env["POSTGRES_USER"] != env_of(services["postgresql"])["POSTGRES_USER"]


def test_temporal_role_is_created_by_an_init_script_the_database_mounts(services):
    mounts = [v for v in services["postgresql"]["volumes"] if str(v).endswith("/docker-entrypoint-initdb.d:ro")]
    assert mounts, "no init scripts mounted"
    init_dir = ROOT / mounts[0].split(":")[0]
    scripts = "\n".join(p.read_text() for p in sorted(init_dir.iterdir()) if p.suffix in (".sh", ".sql"))
    role = env_of(services["temporal"])["POSTGRES_USER"]
    assert re.search(rf"CREATE ROLE {role} LOGIN CREATEDB", scripts)


def test_bind_mounted_files_exist(services):
    for name, svc in services.items():
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_temporal_dynamic_config_is_the_mounted_file(services):
    temporal = services["temporal"]
    path = env_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    targets = [str(v).split(":")[1] for v in temporal["volumes"]]
    assert f"/etc/temporal/{path}" in targets
    config = YAML(typ="safe").load((ROOT / "deploy/temporal/dynamicconfig.yaml").read_text())
    assert config["frontend.enableUpdateWorkflowExecution"][0]["value"] is True  # approvals are Updates


def test_app_services_share_one_environment(services):
    envs = [env_of(services[name]) for name in APP_SERVICES]
    assert all(env == envs[0] for env in envs)


def test_app_services_set_the_required_settings(services):
    for name in APP_SERVICES:
        env = env_of(services[name])
        for key in REQUIRED_ENV:
            assert env.get(key), f"{name}: {key} is not set"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgresql:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["BOTARMY_MODEL"] == "${BOTARMY_MODEL:-offline}"
        assert env["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}"


def test_app_database_is_the_one_postgresql_creates(services):
    pg = env_of(services["postgresql"])
    url = env_of(services["api"])["DATABASE_URL"]
    assert url.split("://", 1)[1].split(":", 1)[0] == pg["POSTGRES_USER"]
    assert url.rsplit("/", 1)[1] == pg["POSTGRES_DB"]
    assert pg["POSTGRES_PASSWORD"] in url


def test_every_botarmy_variable_in_compose_is_a_real_setting(services):
    known = settings_env_names()
    for name in APP_SERVICES:
        unknown = {k for k in env_of(services[name]) if k.upper().startswith("BOTARMY_") and k.upper() not in known}
        assert not unknown, f"{name}: not Settings fields (typo?): {sorted(unknown)}"


def test_every_settings_alias_is_passed_to_the_app(services):
    """The conventional names (DATABASE_URL, OPENAI_API_KEY, ...) are how a deployment configures BotArmy."""
    conventional = {n for n in settings_env_names() if not n.startswith("BOTARMY_")}
    assert {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "OPENAI_API_KEY", "OPENAI_BASE_URL"} <= conventional
    for name in APP_SERVICES:
        assert conventional <= set(env_of(services[name])), (name, conventional - set(env_of(services[name])))


# Variables our own processes set for their children (not configuration): `botarmy serve --workers N` hands its
# options to uvicorn's worker processes this way.
INTERNAL_ENV = {"BOTARMY_SERVE_OPTIONS"}


def test_every_variable_the_code_reads_directly_is_set(services):
    read = {k: v for k, v in env_read_by_code().items() if k not in INTERNAL_ENV}
    assert "DATABASE_URL" in read  # the Alembic environment; proves the scan sees our code
    for name in APP_SERVICES:
        env = env_of(services[name])
        missing = {k: where for k, where in read.items() if k not in env}
        assert not missing, f"{name}: read by the code but not set: {missing}"


# Dockerfile and build context


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_builds_on_python_311_slim():
    froms = [rest for kw, rest in dockerfile_instructions() if kw == "FROM"]
    assert froms and froms[-1].startswith("python:3.11")


def test_dockerfile_installs_the_project_with_pip():
    runs = [rest for kw, rest in dockerfile_instructions() if kw == "RUN"]
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", r) for r in runs), runs
    copies = [rest for kw, rest in dockerfile_instructions() if kw == "COPY"]
    assert any(c.split()[0] == "." for c in copies), "the project source is not copied"


def test_dockerfile_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_defaults_to_the_worker_and_checks_its_health():
    instructions = dockerfile_instructions()
    cmd = [rest for kw, rest in instructions if kw in ("CMD", "ENTRYPOINT")][-1]
    assert json.loads(cmd) == ["python", "-m", "worker"]
    health = [rest for kw, rest in instructions if kw == "HEALTHCHECK"]
    assert health and "deploy/healthcheck.py" in health[0]


def test_dockerignore_keeps_local_state_out_and_the_project_in():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in (".venv", ".botarmy", ".git"):
        assert must in patterns, must
    assert any("__pycache__" in p for p in patterns)
    for needed in ("pyproject.toml", ".bmad-core", "deploy", "botarmy", "store", "worker.py"):
        assert needed not in patterns and f"{needed}/" not in patterns, f"{needed} is needed in the image"


def test_docker_compose_config_is_valid():
    """`docker compose config` validates against the Compose spec without an engine; skipped without the plugin."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
