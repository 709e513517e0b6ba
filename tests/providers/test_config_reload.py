"""The providers file is parsed once per text: launches reuse the parsed config, and an edit is seen at once."""

from __future__ import annotations

from pathlib import Path

from providers.config import load_config


def test_an_unchanged_file_is_not_parsed_again_and_an_edit_of_the_same_size_is_seen(tmp_path: Path):
    path = tmp_path / "providers.yaml"
    path.write_text("default: {model: 'openai:gpt-aaaa'}\n")
    first = load_config(path)
    assert load_config(path) is first
    path.write_text("default: {model: 'openai:gpt-bbbb'}\n")  # same size, likely the same coarse mtime
    assert load_config(path).default.model == "openai:gpt-bbbb"
