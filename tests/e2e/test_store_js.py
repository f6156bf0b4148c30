"""The web client's copy of the picture (``static/js/store.js``) evolves records exactly as the
server's ``domain/picture.py`` does: the same events, through both, give equal records. Once
they drifted (a sector's ``bbox`` was never computed in the browser); this holds them equal.
Run in headless Chromium's own JavaScript engine, the one the watch floor runs in."""

from __future__ import annotations

import re
from typing import Any

import orjson

from estran.app.web.ui import STATIC_DIR
from estran.domain.events import Event
from estran.domain.picture import Picture
from tests.marks import needs_chromium

pytestmark = needs_chromium

MARK = {"classification": "OFFICIAL", "releasable_to": ["FR", "GB"]}
SQUARE = {"type": "Polygon", "coordinates": [[[1.6, 50.8], [1.8, 50.8], [1.8, 50.95],
                                              [1.6, 50.95], [1.6, 50.8]]]}  # fmt: skip


def _events() -> list[Event]:
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("unit.created", "u1", {"callsign": "ALPHA", "kind": "foot_patrol", "status": "available",
                                "position": {"lat": 50.9, "lon": 1.7}}),
        ("incident.created", "i1", {"type": "persons_in_water", "impact": "very_high",
                                    "position": {"lat": 50.93, "lon": 1.6}}),
        ("incident.created", "i2", {"type": "boat_being_prepared", "impact": "high"}),
        ("sector.created", "s1", {"name": "Wissant", "geometry": SQUARE}),
        ("task.created", "t1", {"incident_id": "i2", "unit_id": "u1", "status": "sent"}),
        ("unit.updated", "u1", {"status": "tasked"}),
        ("task.updated", "t1", {"status": "acknowledged"}),
        ("incident.updated", "i2", {"type": "launch_attempt"}),
        ("sector.updated", "s1", {"name": "Wissant nord"}),
        ("sector.updated", "s1", {"geometry": {**SQUARE, "coordinates": [
            [[1.65, 50.85], [1.7, 50.85], [1.7, 50.9], [1.65, 50.85]]]}}),
        ("detection.created", "d1", {"count": 12, "position": {"lat": 50.91, "lon": 1.71}}),
        ("rescue_case.created", "r1", {"incident_id": "i1", "status": "open"}),
        ("rescue_case.updated", "r1", {"status": "acknowledged"}),
    ]  # fmt: skip
    out = []
    for n, (type_, entity, data) in enumerate(rows, 1):
        stamp = f"2026-11-30T22:{n:02d}:00.000000Z"
        out.append(Event(n, f"e{n}", type_, type_.split(".")[0], entity, stamp, stamp,
                         "user:amelie", "api", MARK, data))  # fmt: skip
    return out


def _store_js_as_script() -> str:
    """store.js as a classic script: its exports become globals of the page."""
    source = (STATIC_DIR / "js" / "store.js").read_text(encoding="utf-8")
    return re.sub(r"^export ", "", source, flags=re.M)


def test_the_browser_and_the_server_evolve_every_record_alike(browser):
    events = _events()
    server = Picture().apply_all(events)
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=_store_js_as_script())
        browser_records = page.evaluate(
            """(events) => {
                const out = {};
                for (const ev of events) {
                  const key = ev.kind + "/" + ev.entity_id;
                  out[key] = evolve(out[key], ev);
                }
                return out;
            }""",
            [orjson.loads(e.to_json()) for e in events],
        )
    finally:
        page.close()
    expected = {
        f"{r['entity']}/{r['id']}": orjson.loads(orjson.dumps(r))
        for kind in ("unit", "incident", "sector", "task", "detection", "rescue_case")
        for r in server.all(kind)
    }
    assert set(browser_records) == set(expected)
    for key, record in expected.items():
        assert browser_records[key] == record, key
