"""Maintain the catalogue: ``python -m estran.i18n extract`` (the templates marked in the
source, into ``estran.pot``) and ``python -m estran.i18n update`` (merged into ``fr.po``,
keeping every translation; a new template arrives untranslated, which the tests refuse)."""

from __future__ import annotations

import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from estran.i18n import CATALOGUE_DIR

SOURCE = CATALOGUE_DIR.parent
__all__ = ["extracted", "main"]

KEYWORDS = {"msg": None, "N_": None}


def extracted() -> Catalog:
    """Every template marked in Estran's source, with where it is used."""
    cat = Catalog(project="estran", charset="utf-8")
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(SOURCE), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            cat.add(message, locations=[(f"estran/{filename}", lineno)])
    return cat


def main(argv: list[str]) -> int:
    template = extracted()
    if argv[:1] == ["extract"]:
        with (CATALOGUE_DIR / "estran.pot").open("wb") as fh:
            write_po(fh, template, omit_header=True, sort_output=True, no_location=True)
        return 0
    if argv[:1] == ["update"]:
        path = CATALOGUE_DIR / "fr.po"
        with path.open("rb") as fh:
            fr = read_po(fh, locale="fr")
        fr.update(template, no_fuzzy_matching=True)
        with path.open("wb") as fh:
            write_po(fh, fr, omit_header=True, sort_output=True, no_location=True,
                     ignore_obsolete=True)  # fmt: skip
        return 0
    sys.stderr.write("usage: python -m estran.i18n extract|update\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
