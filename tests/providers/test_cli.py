"""`botarmy providers`: the table a person reads to see which providers are ready."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from botarmy.cli.providers import providers_command
from providers.health import ProviderHealth
from testkit.fakes.anthropic_server import FakeAnthropic


def _run(tmp_path: Path, text: str, environ: dict[str, str]) -> tuple[int, str]:
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    out = io.StringIO()
    code = providers_command(path, environ=environ, health_path=tmp_path / "health.json", timeout_s=0.5,
                             console=Console(file=out, width=250))
    return code, out.getvalue()


def test_lists_models_keys_endpoint_and_health_when_all_is_ready(tmp_path: Path):
    health = ProviderHealth()
    health.record("anthropic", True, 0.25)
    health.write_snapshot(tmp_path / "health.json")
    with FakeAnthropic() as fake:
        code, out = _run(tmp_path, f"""
default: {{model: anthropic:claude-test, fallbacks: [offline]}}
providers: {{anthropic: {{base_url: "{fake.base_url}", max_concurrent: 2}}}}
""", {"ANTHROPIC_API_KEY": "k"})
    assert code == 0
    assert "claude-test" in out and "ANTHROPIC_API_KEY set" in out and fake.base_url in out
    assert "HTTP 501" in out  # the endpoint answers (the fake serves only POST, but it is up)
    assert "2 at once" in out and "healthy 100% of 1" in out and "offline" in out


def test_missing_key_and_dead_endpoint_make_it_fail(tmp_path: Path):
    code, out = _run(tmp_path, """
default: {model: gemini:gemini-2.5-flash}
providers: {gemini: {base_url: "http://127.0.0.1:1/v1beta/openai/"}}
agents: {pm: {model: openai:gpt-4o}}
""", {})
    assert code == 1
    assert "GEMINI_API_KEY not set" in out and "unreachable" in out and "OPENAI_API_KEY not set" in out


def test_unreadable_config_exits_2_with_the_reason(tmp_path: Path):
    code, out = _run(tmp_path, "default: {model: nope}", {})
    assert code == 2 and "not understood" in out
