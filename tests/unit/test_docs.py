from __future__ import annotations

from pathlib import Path

from estran.config import Settings
from estran.docgen import cli_markdown, matrix_markdown, settings_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_has_a_description_and_is_documented():
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"`ESTRAN_{name.upper()}`" in text, f"docs/settings.md misses {name}"


def test_the_generated_references_are_up_to_date():
    assert (DOCS / "settings.md").read_text(encoding="utf-8") == settings_markdown(), (
        "run: uv run python -m estran.docgen"
    )
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == cli_markdown(), (
        "run: uv run python -m estran.docgen"
    )
    assert (DOCS / "permissions.md").read_text(encoding="utf-8") == matrix_markdown(), (
        "run: uv run python -m estran.docgen"
    )
