"""Rules of the code's shape that a review once had to find by hand (issue 18): the picture's
tables are reached only through the domain's typed access, services type their collaborators,
and the pure core imports no outer layer."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "estran"


def _sources(*parts: str) -> list[Path]:
    return sorted((SRC.joinpath(*parts)).rglob("*.py"))


def test_no_module_outside_the_domain_reaches_into_the_pictures_tables():
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in _sources()
        if "domain" not in p.relative_to(SRC).parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if ".records[" in line
    ]
    assert not offenders, f"use Picture.get/all/count_of/remove instead: {offenders}"


_COLLABORATOR = re.compile(
    r"^\s+(ledger|hub|server|access|audit|store|picture|clock|terrain|runtime|identity)"
    r": Any\b"
)


def test_services_type_their_collaborators():
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in _sources("services")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if _COLLABORATOR.match(line)
    ]
    assert not offenders, offenders


def test_the_pure_core_imports_no_outer_layer():
    outer = re.compile(r"^\s*(from|import) estran\.(services|adapters|bootstrap|cli|config)\b")
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for part in ("domain", "sim", "protocols")
        for p in _sources(part)
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if outer.match(line)
    ]
    assert not offenders, offenders
