"""French and English: the watch floor's catalogue is complete in both languages, every string
the page shows comes from it, and the language a user reads in is chosen as documented."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from estran.domain.language import account_language, from_accept_language

STATIC = Path(__file__).resolve().parents[2] / "src" / "estran" / "app" / "web" / "static"
CATALOGUE = json.loads((STATIC / "i18n.json").read_text(encoding="utf-8"))
SCRIPTS = {p.name: p.read_text(encoding="utf-8") for p in (STATIC / "js").glob("*.js")}
PAGE = (STATIC / "index.html").read_text(encoding="utf-8")


def test_both_languages_have_every_string_with_the_same_placeholders():
    assert set(CATALOGUE) == {"en", "fr"}
    assert CATALOGUE["en"].keys() == CATALOGUE["fr"].keys()
    holes = re.compile(r"\{(\w+)\}")
    for key, en in CATALOGUE["en"].items():
        fr = CATALOGUE["fr"][key]
        assert en.strip(), key
        assert fr.strip(), key
        assert sorted(holes.findall(en)) == sorted(holes.findall(fr)), key
    # Translated, not copied: most strings differ (names and symbols may be the same).
    same = [k for k, v in CATALOGUE["en"].items() if CATALOGUE["fr"][k] == v]
    assert len(same) < 0.15 * len(CATALOGUE["en"]), same


def test_every_key_the_page_asks_for_is_in_the_catalogue():
    asked = set()
    for text in [*SCRIPTS.values(), PAGE]:
        asked |= set(re.findall(r"\bt(?:Both)?\(\s*\"([a-z_.]+)\"", text))
        asked |= set(re.findall(r'data-i18n(?:-title|-placeholder|-aria)?="([a-z_.]+)"', text))
        asked |= {f"layer.{k}" for k in re.findall(r'key: "([a-z]+)"', text)}
    missing = sorted(k for k in asked if k not in CATALOGUE["en"])
    assert not missing
    prefixes = set()
    for text in SCRIPTS.values():
        prefixes |= set(re.findall(r"\btv\(\s*\"([a-z]+)\"", text))
    for prefix in prefixes:
        assert any(k.startswith(prefix + ".") for k in CATALOGUE["en"]), prefix


# Words the page may show as they are, in either language: names, codes, units, symbols.
_AS_IS = re.compile(r"^(ESTRAN|Estran|SAR|UTC|REL|km/h|[A-Z]{2,3}|[a-z] / [a-z]|Enter|Esc)$")


class _Text(HTMLParser):
    """Every element's own text in the page, with whether it is translated."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.untranslated: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        if tag not in ("meta", "link", "input", "br"):
            self.stack.append((tag, "data-i18n" in names))
        marks = {"title": "data-i18n-title", "placeholder": "data-i18n-placeholder",
                 "aria-label": "data-i18n-aria"}  # fmt: skip
        for key, value in attrs:
            if key in marks and value and marks[key] not in names:
                self.untranslated.append(f"{key}={value}")

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or not re.search(r"[A-Za-z]{2}", text) or not self.stack:
            return
        tag, translated = self.stack[-1]
        if tag in ("script", "style", "title", "dt") or translated or _AS_IS.match(text):
            return
        self.untranslated.append(f"<{tag}>{text}")


def test_no_text_in_the_page_escapes_the_catalogue():
    parser = _Text()
    parser.feed(PAGE)
    assert parser.untranslated == []


def _templates(js: str) -> list[str]:
    """The literal text of every template string in ``js`` (``${...}`` taken out, nested
    templates inside them found too); comments and other strings skipped."""
    out: list[str] = []

    def template(i: int) -> int:  # js[i] is the opening backtick; returns past the closing
        text = []
        i += 1
        while i < len(js) and js[i] != "`":
            if js.startswith("${", i):
                i = code(i + 2, "}")
                text.append("\x00")
            else:
                text.append(js[i])
                i += 1
        out.append("".join(text))
        return i + 1

    def code(i: int, until: str | None) -> int:  # returns past ``until``
        depth = 0
        while i < len(js):
            c = js[i]
            if c == "`":
                i = template(i)
                continue
            if c in "\"'":
                j = i + 1
                while j < len(js) and js[j] != c:
                    j += 2 if js[j] == "\\" else 1
                i = j + 1
                continue
            if js.startswith("//", i):
                i = js.find("\n", i)
                i = len(js) if i < 0 else i
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0 and until == "}":
                    return i + 1
                depth -= 1
            i += 1
        return i

    code(0, None)
    return out


def test_no_english_is_written_into_the_scripts_html():
    """Text between tags in the scripts' templates, or a toast's literal message, must come
    from ``t``/``tv`` (a test, not a convention: the page's other language would show it)."""
    between = re.compile(r">([^<>]*[A-Za-z]{3,}[^<>]*)<")
    literal_toast = re.compile(r"toast\(\s*[\"'`][A-Za-z]")
    found = []
    for name, text in SCRIPTS.items():
        for template in _templates(text):
            for m in between.finditer(template):
                words = [w for w in re.findall(r"[A-Za-z]{3,}", m.group(1)) if not _AS_IS.match(w)]
                if words:
                    found.append(f"{name}: {m.group(1).strip()}")
        found += [f"{name}: {m.group(0)}" for m in literal_toast.finditer(text)]
    assert found == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.5", "en"),
        ("de-DE,fr;q=0.3", "fr"),
        ("de-DE", None),
        ("fr;q=0, en;q=0.1", "en"),
        ("en;q=0.5, fr;q=0.5", "en"),  # equal weights: the first given
        ("", None),
        (None, None),
        ("fr;q=oops", None),
    ],
)
def test_accept_language_picks_french_or_english_by_weight(header, expected):
    assert from_accept_language(header) == expected


def test_an_account_reads_its_choice_else_its_nations_language():
    assert account_language(None, "FR") == "fr"
    assert account_language(None, "GB") == "en"
    assert account_language("en", "FR") == "en"
    assert account_language("fr", "GB") == "fr"


def test_no_script_hides_the_translation_function_behind_a_local_name():
    """A parameter or variable named ``t`` in a script that translates with ``t`` makes every
    string in its scope throw (``t is not a function``): seen once, refused since."""
    shadow = re.compile(r"\b(?:const|let|var)\s+t\b|[(,]\s*t\s*[,)]\s*(?:=>|\{)|for \(const t\b")
    found = [
        f"{name}: {m.group(0)}"
        for name, text in SCRIPTS.items()
        if re.search(r"import \{[^}]*\bt\b[^}]*\} from \"\./i18n\.js\"", text)
        for m in shadow.finditer(text)
    ]
    assert found == []
