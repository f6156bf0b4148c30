"""The server's and the CLI's text in French: every message marked, every template translated,
particulars and numbers in the reader's way (issue 20)."""

from __future__ import annotations

import ast
import pickle
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

import estran.domain.consistency
import estran.domain.errors
import estran.domain.rescue
from estran.domain.errors import EstranError, NotFoundError, OutsideAreaError
from estran.domain.messages import Msg, joined, msg
from estran.i18n import CATALOGUE_DIR, catalogue, cli_language, translate, translate_tree
from estran.i18n.__main__ import extracted

SRC = Path(estran.domain.errors.__file__).parents[1]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _error_classes() -> set[str]:
    names: set[str] = set()
    todo: list[type] = [EstranError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def test_every_template_in_the_source_has_its_french_with_the_same_particulars():
    with (CATALOGUE_DIR / "fr.po").open("rb") as fh:
        fr = {m.id: m for m in read_po(fh) if m.id}
    source = {m.id for m in extracted() if m.id}
    assert len(source) > 300
    untranslated = sorted(t for t in source if t not in fr or not fr[t].string or fr[t].fuzzy)
    assert untranslated == [], "run `python -m estran.i18n update` and translate these"
    changed = sorted(t for t in source if _fields(str(t)) != _fields(str(fr[t].string)))
    assert changed == [], "a translation drops or invents a particular"
    stale = sorted(set(fr) - source)
    assert stale == [], "fr.po holds templates the source no longer uses"


def test_the_pot_file_is_what_the_source_marks():
    with (CATALOGUE_DIR / "estran.pot").open("rb") as fh:
        pot = {m.id for m in read_po(fh) if m.id}
    assert pot == {m.id for m in extracted() if m.id}, "run `python -m estran.i18n extract`"


def _bare_messages() -> list[str]:
    """Errors raised with text not marked for translation: a string or an f-string given
    straight to an Estran error (or to the CLI's output), not through ``msg``."""
    errors = _error_classes()
    cli = {"echo", "ClickException", "UsageError", "BadParameter"}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            name = (
                f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            )
            arg = node.args[2] if name == "NotFoundError" and len(node.args) > 2 else node.args[0]
            if name == "NotFoundError" and len(node.args) < 3:
                continue
            if name not in errors and not ("estran/cli" in path.as_posix() and name in cli):
                continue
            text = (
                arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                else "".join(str(v.value) for v in arg.values if isinstance(v, ast.Constant))
                if isinstance(arg, ast.JoinedStr) else None
            )  # fmt: skip
            if text is not None and any(c.isalpha() for c in text):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {text[:60]!r}")
    return found


def test_no_error_or_cli_message_escapes_the_catalogue():
    assert _bare_messages() == []


def test_the_scan_finds_a_bare_message(tmp_path, monkeypatch):
    # The scan above must be able to fail: a module raising an unmarked message is found.
    import tests.unit.test_messages as me

    fake = tmp_path / "estran"
    (fake / "cli").mkdir(parents=True)
    (fake / "x.py").write_text('raise NotFoundError("task", "t", f"no task {x}")\n')
    (fake / "cli" / "y.py").write_text('click.echo("done")\nraise ConflictError("no")\n')
    monkeypatch.setattr(me, "SRC", fake)
    assert len(_bare_messages()) == 3


def test_a_message_reads_in_french_with_french_numbers():
    m = msg(
        "{label}: {km:.1f} km away, there and back ({min:.0f} min) exceeds its "
        "{endurance:.0f} min endurance",
        label="drone (thermal)", km=21.04, min=46.7, endurance=35.0,
    )  # fmt: skip
    assert str(m) == (  # the English text is the str itself
        "drone (thermal): 21.0 km away, there and back (47 min) exceeds its 35 min endurance"
    )
    assert translate(m, "en") == str(m)
    assert translate(m, "fr") == (  # the label, a particular, translated too
        "drone (thermique) : à 21,0 km, l'aller-retour (47 min) dépasse son autonomie de 35 min"
    )
    share = msg("{site} ({q:.0%})", site="Gravelines", q=0.42)
    assert translate(share, "fr") == "Gravelines (42\u202f%)"
    big = msg("{mix_cost:,.0f}", mix_cost=5500.0)
    assert translate(big, "fr") == "5\u202f500"


def test_errors_made_by_the_domain_read_in_french():
    assert translate(NotFoundError("task", "t-1").message, "fr") == "mission introuvable : 't-1'"
    outside = translate(OutsideAreaError(48.85, 2.35, "cote-opale").message, "fr")
    assert outside == "(48,85000 ; 2,35000) est hors de la zone d'intérêt 'cote-opale'"


def test_lists_and_nested_messages_are_translated_item_by_item():
    legs = joined([msg("walks {km:.2f} km in {min:.1f} min", km=1.0, min=12.0)] * 2, "; then ")
    assert translate(legs, "fr") == "marche 1,00 km en 12,0 min ; puis marche 1,00 km en 12,0 min"
    tree = translate_tree({"why": [legs], "id": "task", "n": 3}, "fr")
    assert tree["why"][0].startswith("marche")
    assert tree["id"] == "task"


def test_an_unknown_template_stays_english_with_its_particulars():
    m = msg("no such template {x}", x=msg("woodland"))
    assert translate(m, "fr") == "no such template bois"
    assert translate("not a message", "fr") == "not a message"


def test_a_broken_translation_falls_back_to_english(monkeypatch):
    table = dict(catalogue("fr"))
    table["task"] = "{oops}"
    monkeypatch.setattr("estran.i18n.catalogue", lambda lang: table)
    assert translate(msg("task"), "fr") == "task"


def test_a_message_survives_pickling_as_a_message():
    m = msg("{a} {{literal}} {b:.1f}", a="x", b=1.25)
    back = pickle.loads(pickle.dumps(m))  # noqa: S301 (our own bytes, made just above)
    assert isinstance(back, Msg)
    assert back == m
    assert back.template == m.template
    j = pickle.loads(pickle.dumps(joined(["a", "b"])))  # noqa: S301 (our own bytes)
    assert str(j) == "a, b"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ESTRAN_LANGUAGE": "fr", "LANG": "en_GB.UTF-8"}, "fr"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_cli_reads_its_language_from_the_environment(env, expected):
    assert cli_language(env) == expected


def test_the_cli_says_its_errors_and_results_in_french(tmp_path):
    from estran.cli.main import cli

    runner = CliRunner()
    env = {"ESTRAN_LANGUAGE": "fr"}
    unknown = ["users", "add", "x", "--role", "operator", "--agency", "XX-NOWHERE",
               "--data", str(tmp_path), "--password-stdin"]  # fmt: skip
    bad = runner.invoke(cli, unknown, input="a long enough password\n", env=env)
    assert bad.exit_code != 0
    assert "l'organisme XX-NOWHERE n'est pas connu : indiquez --nation" in bad.output
    english = runner.invoke(cli, unknown, input="a long enough password\n", env={"LANG": "C"})
    assert "agency XX-NOWHERE is not a known one: give --nation" in english.output
    made = runner.invoke(
        cli,
        ["users", "add", "cdt", "--role", "commander", "--agency", "FR-GN",
         "--data", str(tmp_path), "--password-stdin"],
        input="a long enough password\n",
        env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "utilisateur cdt ajouté" in made.output
