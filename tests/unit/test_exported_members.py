from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import estran


def test_every_module_declares_all_and_every_name_in_it_exists():
    checked = 0
    for info in pkgutil.walk_packages(estran.__path__, "estran."):
        module = importlib.import_module(info.name)
        if info.ispkg:
            continue
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{info.name} has no __all__"
        for name in exported:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"
        checked += 1
    assert checked >= 20


def test_the_pure_core_imports_no_io():
    forbidden = ("asyncio", "socket", "sqlite3", "psycopg", "fastapi", "starlette", "os")
    for info in pkgutil.walk_packages(estran.__path__, "estran."):
        if not info.name.startswith(("estran.domain", "estran.protocols")):
            continue
        source = importlib.import_module(info.name).__file__
        assert source is not None
        text = Path(source).read_text(encoding="utf-8")
        for name in forbidden:
            assert f"import {name}\n" not in text, f"{info.name} imports {name}"
            assert f"from {name} " not in text, f"{info.name} imports from {name}"
        assert "datetime.now(" not in text, info.name
        assert "time.time(" not in text, info.name
