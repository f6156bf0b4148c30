"""Rules of the code's shape that a review once had to find by hand (issue 18): the picture's
tables are reached only through the domain's typed access, services type their collaborators,
and the pure core imports no outer layer."""

from __future__ import annotations

import ast
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


def _bare_any(path: Path, root: Path = SRC) -> list[str]:
    """Parameters and attributes annotated ``Any`` (alone or ``Any | None``), by line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        annotated: list[tuple[str, ast.expr, int]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if a.annotation is not None:
                    annotated.append((a.arg, a.annotation, a.lineno))
        elif isinstance(node, ast.AnnAssign):
            annotated.append((ast.unparse(node.target), node.annotation, node.lineno))
        for name, annotation, line in annotated:
            parts = {p.strip() for p in ast.unparse(annotation).strip("'\"").split("|")}
            if "Any" in parts:
                found.append(f"{path.relative_to(root)}:{line} {name}")
    return found


def test_services_type_their_collaborators():
    """No parameter or attribute of a service is typed ``Any``: collaborators are ports
    (``estran.ports``) or services, data is ``dict[str, Any]`` at most."""
    offenders = [hit for p in _sources("services") for hit in _bare_any(p)]
    assert not offenders, offenders


def test_the_check_for_untyped_collaborators_finds_one(tmp_path: Path):
    """The rule above can fail: a service taking ``store: Any`` is caught."""
    bad = tmp_path / "probe.py"
    bad.write_text("from typing import Any\n\nclass S:\n    def __init__(self, store: Any):\n"
                   "        self.store: Any | None = store\n")  # fmt: skip
    assert _bare_any(bad, tmp_path) == ["probe.py:4 store", "probe.py:5 self.store"]


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


def test_routes_name_the_narrow_services_they_use_not_the_container():
    """Issue 18: a route's signature says what it uses (``ledger: LedgerDep``,
    ``app/web/deps.py``); none reaches into the whole ``Services`` container."""
    routes = [*_sources("app", "web")]
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in routes
        if p.name.startswith("routes_") or p.name == "ws.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "services(" in line or "state.services" in line or "Services" in line
    ]
    assert not offenders, offenders
