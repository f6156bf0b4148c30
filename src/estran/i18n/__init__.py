"""Estran's text in the reader's language: the gettext catalogue of the server and the CLI.

The source is written in English, each message for people marked with ``msg`` (or ``N_``) from
``estran.domain.messages``. Babel extracts them (``uv run python -m estran.i18n extract``
writes ``estran.pot``, ``... update`` merges it into ``fr.po``); translators fill ``fr.po``;
``tests/unit/test_messages.py`` fails on any template without its French, or whose French
drops or invents a particular. The catalogue ships as the ``.po`` source and is read with
Babel when a French text is first wanted (no compile step, nothing downloaded).

:func:`translate` turns a message into the reader's language. Numbers are written in that
language's way: ``2,50 km`` and ``40 %`` in French.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Any, Final

from estran.domain.language import LANGUAGES, Language
from estran.domain.messages import Joined, Msg

__all__ = ["CATALOGUE_DIR", "catalogue", "cli_language", "translate", "translate_tree"]

CATALOGUE_DIR: Final = Path(__file__).parent
_NNBSP: Final = "\u202f"  # French thousands separator and space before '%'


@cache
def catalogue(lang: Language) -> dict[str, str]:
    """The translated templates of ``lang`` (English: none; every text is its own)."""
    if lang == "en":
        return {}
    from babel.messages.pofile import read_po

    with (CATALOGUE_DIR / f"{lang}.po").open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {
        str(m.id): str(m.string)
        for m in cat
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


class _Formatter(string.Formatter):
    def __init__(self, lang: Language) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        text = format(value, format_spec)
        if self.lang == "fr" and isinstance(value, int | float) and not isinstance(value, bool):
            text = text.replace(",", _NNBSP).replace(".", ",").replace("%", _NNBSP + "%")
        return text


_FORMATTERS: Final = {lang: _Formatter(lang) for lang in LANGUAGES}


def translate(text: Any, lang: Language) -> str:
    """``text`` in ``lang``: a :class:`Msg` by its template, a plain string by the catalogue
    when it is one of its templates, anything else unchanged. A template the catalogue lacks
    stays English, so a reader always gets the particulars."""
    if lang == "en" or not isinstance(text, str):
        return str(text) if isinstance(text, str) else text
    table = catalogue(lang)
    if not isinstance(text, Msg):
        return table.get(text, text)
    if isinstance(text, Joined):
        return table.get(text.sep, text.sep).join(translate(i, lang) for i in text.items)
    template = table.get(text.template, text.template)  # untranslated: English, but its
    # particulars are still translated (a list joined by ``joined``)
    params = {
        k: translate(v, lang) if isinstance(v, str) and (isinstance(v, Msg) or v in table) else v
        for k, v in text.params.items()
    }
    try:
        return _FORMATTERS[lang].format(template, **params)
    except (KeyError, IndexError, ValueError):  # a broken translation: the English is right
        return str(text)


def translate_tree(value: Any, lang: Language) -> Any:
    """``value`` (an answer's JSON: dicts, lists, text) with every :class:`Msg` in it
    translated."""
    if isinstance(value, Msg):
        return translate(value, lang)
    if isinstance(value, dict):
        return {k: translate_tree(v, lang) for k, v in value.items()}
    if isinstance(value, list):
        return [translate_tree(v, lang) for v in value]
    return value


def cli_language(environ: dict[str, str]) -> Language:
    """The CLI's language: ``ESTRAN_LANGUAGE``, else the POSIX locale (``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``; ``fr_FR.UTF-8`` is French), else English."""
    for name in ("ESTRAN_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"
