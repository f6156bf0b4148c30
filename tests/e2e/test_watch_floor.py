"""The watch floor in a real headless Chromium against a real ``estran demo``: the map, live
units, dispatch from the console, the liaison's console, the after-action slider, and the
rescue layer that cannot be hidden. Each test writes a screenshot of its view."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Demo, signed_in_page
from tests.marks import NATS_SKIP_REASON, NATS_URL, needs_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    needs_chromium,
    pytest.mark.timeout(240),
]

BEACH = {"lat": 50.9645, "lon": 1.8490}  # the beach west of Calais (Sangatte)


def _wait(page: Any, script: str, timeout_ms: int = 30_000) -> Any:
    return page.wait_for_function(script, timeout=timeout_ms)


def in_thread(work: Any) -> None:
    """Run ``work`` in a thread of its own (Playwright's event loop runs in this one)."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the test
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    if errors:
        raise errors[0]


def _incident(demo: Demo, **over: Any) -> dict[str, Any]:
    body = {
        "type": "boat_being_prepared",
        "impact": "high",
        "owner_agency_id": "FR-GN",
        "position": BEACH,
        "count": 40,
        "summary": "group inflating a boat in the dunes",
        **over,
    }
    with demo.api() as api:
        r = api.post("/incidents", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


def test_sign_in_draws_the_coast_and_the_live_units_move(browser: Any, demo: Demo, shots: Path):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.url + "/")
    # Not signed in: the sign-in form, and nothing of the picture.
    page.wait_for_selector("#signin:not([hidden])")
    assert page.locator("#app").is_hidden()
    page.fill("#username", "demo-commander")
    page.fill("#password", "wrong password!")
    page.click("#signin-button")
    page.wait_for_selector("#signin-error:has-text('refused')")
    page.fill("#password", demo.passwords["demo-commander"])
    page.click("#signin-button")
    _wait(page, "() => window.estran && window.estran.ready", 60_000)
    # The account's language (French for a French account until it chooses).
    assert re.search("commander|commandant", page.inner_text("#who"))

    # The base map: the terrain image in Web Mercator over the area, and the place names.
    _wait(
        page,
        "() => { const i = document.querySelector('img.basemap');"
        " return i && i.complete && i.naturalWidth === 2048; }",
    )
    labels = page.locator(".place-label").all_inner_texts()
    assert {"Calais", "Dunkirk", "Boulogne-sur-Mer"} <= set(labels)
    # Sea and land are drawn differently: sample the image at the sea and on land.
    sea, land = page.evaluate(
        """() => {
          const img = document.querySelector('img.basemap');
          const c = document.createElement('canvas');
          c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          const map = window.estran.map.map;
          const px = (lat, lon) => {
            const b = window.estran.map.bounds;
            const p = map.project([lat, lon], 10), nw = map.project(b.getNorthWest(), 10),
                  se = map.project(b.getSouthEast(), 10);
            const x = (p.x - nw.x) / (se.x - nw.x) * c.width;
            const y = (p.y - nw.y) / (se.y - nw.y) * c.height;
            return Array.from(g.getImageData(Math.floor(x), Math.floor(y), 1, 1).data);
          };
          return [px(50.965, 1.82), px(50.93, 1.90)];
        }"""
    )
    assert sea != land
    assert sea[3] == land[3] == 255  # both inside the drawn terrain
    units = page.locator(".leaflet-marker-pane .unit")
    assert units.count() >= 10

    # Live: patrols report positions on the stream and their markers move.
    before = page.evaluate(
        "() => Object.fromEntries([...estran.map.markers.unit].map("
        "([id, m]) => [id, [m.getLatLng().lat, m.getLatLng().lng]]))"
    )
    time.sleep(4)
    after = page.evaluate(
        "() => Object.fromEntries([...estran.map.markers.unit].map("
        "([id, m]) => [id, [m.getLatLng().lat, m.getLatLng().lng]]))"
    )
    moved = [u for u in before if u in after and before[u] != after[u]]
    assert len(moved) >= 3, (before, after)
    assert page.evaluate("() => estran.events") > 0
    page.screenshot(path=str(shots / "map.png"))
    # Closer in: callsigns and the terrain under them.
    page.evaluate("() => { estran.map.map.setView([50.945, 1.80], 13, {animate: false}); }")
    page.locator(".unit span").first.wait_for()
    time.sleep(1.5)
    page.screenshot(path=str(shots / "map-near.png"))
    assert not errors
    context.close()


def test_an_incident_appears_and_is_dispatched_from_the_console(
    browser: Any, demo: Demo, shots: Path
):
    page = signed_in_page(browser, demo, "demo-commander")
    incident = _incident(demo)
    row = page.locator(f"#incidents li[data-id='{incident['id']}']")
    row.wait_for(timeout=15_000)  # it arrived on the stream
    row.click()
    # Ranked units with ETA and reason; the commander may task a gendarmerie unit.
    task_button = page.locator("#recs button:has-text('Task')").first
    task_button.wait_for(timeout=30_000)
    first_row = page.locator("#recs tr").first
    assert re.fullmatch(r"\d+ s|\d+ min \d\d s|\d+ h \d\d min",
                        first_row.locator("td.eta").inner_text())  # fmt: skip
    # A duration is never shown as a clock time, and never with 60 seconds (was "41:60").
    shown = page.evaluate(
        "async () => { const {fmtEta} = await import('/static/js/map.js');"
        " return [2519.6, 641.4, 59.6, 42, 3900, null].map(fmtEta); }"
    )
    assert shown == ["42 min 00 s", "10 min 41 s", "1 min 00 s", "42 s", "1 h 05 min", "—"]
    assert first_row.locator(".why").inner_text()
    unit_id = task_button.get_attribute("data-unit")
    task_button.click()
    page.locator("#tasks tr:has-text('sent')").wait_for(timeout=15_000)
    page.wait_for_selector("#toast:has-text('Tasked')")
    with demo.api() as api:
        tasks = api.get("/tasks", params={"limit": 1000}).json()["items"]
    mine = [t for t in tasks if t["incident_id"] == incident["id"]]
    assert [(t["unit_id"], t["status"]) for t in mine] == [(unit_id, "sent")]
    assert mine[0]["status_log"][-1]["by"] == "user:demo-commander"
    page.screenshot(path=str(shots / "dispatch.png"))
    assert not page.errors
    page.context.close()


def test_a_liaison_console_offers_no_tasking_and_the_server_refuses_a_forged_one(
    browser: Any, demo: Demo, shots: Path
):
    incident = _incident(
        demo,
        type="group_sighted",
        impact="medium",
        marking={"classification": "OFFICIAL", "releasable_to": ["FR", "GB"]},
    )
    page = signed_in_page(browser, demo, "demo-liaison")
    assert "liaison" in page.inner_text("#who")
    row = page.locator(f"#incidents li[data-id='{incident['id']}']")
    row.wait_for(timeout=15_000)
    row.click()
    page.locator("#recs tr").first.wait_for(timeout=30_000)
    assert page.locator("#detail button:has-text('Task')").count() == 0
    assert page.locator("#detail button:has-text('Propose')").count() > 0
    assert "proposes" in page.inner_text("#detail")
    buttons = page.locator("#recs button")
    unit_id = buttons.nth(0).get_attribute("data-unit")
    other_unit = buttons.nth(1).get_attribute("data-unit")
    # From the liaison's own session: a proposal is advice and is accepted; sending it to the
    # unit, forged by PATCH or as an event, is refused by the server.
    result = page.evaluate(
        """async ([incident, unit]) => {
          const post = (path, body, method = 'POST') => fetch(path, {method,
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
          const made = await post('/api/v1/events',
            [{type: 'task.created', data: {incident_id: incident, unit_id: unit}}]);
          const body = await made.json();
          if (!body.events) return [made.status, body];
          const task = body.events[0].entity_id;
          const patch = await post('/api/v1/tasks/' + task, {status: 'sent'}, 'PATCH');
          const event = await post('/api/v1/events',
            [{type: 'task.updated', entity_id: task, data: {status: 'sent'}}]);
          return [made.status, patch.status, (await patch.json()).error.code, event.status, task];
        }""",
        [incident["id"], unit_id],
    )
    assert result[:4] == [201, 403, "forbidden", 403], result
    page.locator(f"#recs button[data-unit='{other_unit}']").click()
    page.wait_for_selector("#toast:has-text('Proposed')")
    with demo.api() as api:
        tasks = api.get("/tasks", params={"limit": 1000}).json()["items"]
    mine = {t["unit_id"]: t["status"] for t in tasks if t["incident_id"] == incident["id"]}
    assert mine == {unit_id: "proposed", other_unit: "proposed"}
    page.screenshot(path=str(shots / "liaison.png"))
    page.context.close()


def test_the_time_slider_shows_an_earlier_picture(browser: Any, demo: Demo, shots: Path):
    early = _incident(demo, type="launch_attempt", summary="early")
    time.sleep(2.5)
    middle = datetime.now().astimezone()
    time.sleep(2.5)
    late = _incident(demo, type="launch_attempt", summary="late")
    page = signed_in_page(browser, demo, "demo-commander")
    page.locator(f"#incidents li[data-id='{late['id']}']").wait_for(timeout=15_000)
    page.keyboard.press("a")  # after-action mode
    page.wait_for_selector("#mode.replay")
    assert page.errors == []
    with demo.api() as api:
        first = api.get("/events", params={"after": 0, "limit": 1}).json()["events"][0]
    start = datetime.fromisoformat(first["received_at"]).timestamp()
    value = (middle.timestamp() - start) / (time.time() - start) * 1000
    page.locator("#slider").fill(str(round(value)))
    _wait(
        page,
        f"() => estran.replayAt && estran.replayAt < '{late['created_at']}'"
        f" && estran.replayAt > '{early['created_at']}'",
    )
    page.locator(f"#incidents li[data-id='{early['id']}']").wait_for(timeout=15_000)
    assert page.locator(f"#incidents li[data-id='{late['id']}']").count() == 0
    assert page.locator("#slider").is_enabled()
    page.screenshot(path=str(shots / "replay.png"))
    page.click("#replay-live")
    page.locator(f"#incidents li[data-id='{late['id']}']").wait_for(timeout=15_000)
    assert page.inner_text("#mode") == "LIVE"
    page.context.close()


def test_a_rescue_case_tops_the_console_and_cannot_be_hidden(browser: Any, demo: Demo, shots: Path):
    page = signed_in_page(browser, demo, "demo-commander")
    sea = _incident(
        demo,
        type="persons_in_water",
        impact="very_high",
        position={"lat": 50.985, "lon": 1.86},
        count=12,
        summary="people in the water off Sangatte",
    )
    page.locator(".rescue").first.wait_for(timeout=15_000)  # the rescue case it opened
    page.locator(f"#incidents li.sea[data-id='{sea['id']}']").wait_for(timeout=15_000)
    # Life at sea tops the list: every rescue entry comes before any other, ours among them.
    classes = page.locator("#incidents li").evaluate_all(
        "(lis) => lis.map((li) => [li.dataset.id, li.classList.contains('sea')])"
    )
    flags = [flag for _, flag in classes]
    assert flags[0]
    assert flags == sorted(flags, reverse=True)
    assert sea["id"] in [i for i, flag in classes if flag]
    # Hide every layer there is, by keyboard and by clicking the rescue entry.
    for key in "12345678":
        page.keyboard.press(key)
    page.locator("label.locked").click(force=True)
    assert page.locator("input[data-layer='rescue']").is_disabled()
    assert page.locator("input[data-layer='rescue']").is_checked()
    assert page.locator(".leaflet-marker-pane .unit").count() == 0  # the others did hide
    assert page.locator(".rescue").first.is_visible()
    assert page.locator(f".incident[data-id='{sea['id']}']").is_visible()
    assert page.evaluate("() => estran.map.toggle('rescue', false)") is True
    assert page.locator(".rescue").first.is_visible()
    page.locator(f"#incidents li[data-id='{sea['id']}']").click()
    page.wait_for_selector("#detail .banner-sea")
    page.screenshot(path=str(shots / "rescue.png"))
    page.context.close()


def test_the_figures_panel_charts_the_night_for_an_analyst(browser: Any, demo: Demo, shots: Path):
    incident = _incident(demo, type="launch_attempt")
    with demo.api() as api:
        r = api.patch(f"/incidents/{incident['id']}", json={"outcome": "launch_prevented"})
        assert r.status_code == 200, r.text
    page = signed_in_page(browser, demo, "demo-analyst")
    assert "analyst" in page.inner_text("#who")
    page.keyboard.press("f")
    page.locator("#charts .uplot").nth(2).wait_for(timeout=15_000)
    assert page.locator("#charts .uplot").count() == 3
    # 24-hour UTC times (the axes are drawn on a canvas: their formatter is checked), day and
    # month at midnight, labelled UTC: never 1pm or 11/30/26.
    ticks = page.evaluate("() => estran.utcTicks(null, [1764543600, 1764547200, 1764550800])")
    assert ticks == ["23:00\n30/11", "00:00\n01/12", "01:00"]
    assert "UTC" in page.locator("#charts").inner_text()
    _wait(page, "() => document.querySelector('#clock').textContent.length > 0")
    assert re.search(r"\d\d:\d\d:\d\d UTC · \d\d:\d\d Paris", page.inner_text("#clock"))
    with demo.api("demo-analyst") as api:
        stats = api.get("/stats").json()
    tile = page.locator(".tile[data-figure='intercepted'] b").inner_text()
    assert int(tile) == stats["attempts_intercepted"] >= 1
    # An analyst reads and replays; the console offers no log entry and no tasking.
    assert page.locator("#log-form").is_hidden()
    page.keyboard.press("i")
    page.locator(f"#incidents li[data-id='{incident['id']}']").click()
    page.locator("#detail h2").wait_for()
    assert page.locator("#detail button").count() == 0
    page.keyboard.press("f")
    page.screenshot(path=str(shots / "figures.png"))
    page.context.close()


def test_hostile_text_in_records_is_shown_as_text_never_run(browser: Any, demo: Demo):
    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    with demo.api() as api:
        unit = {
            "callsign": '<b onmouseover="window.pwned=3">X</b>',
            "kind": "foot_patrol",
            "agency_id": "FR-GN",
            "position": {"lat": 50.95, "lon": 1.84},
        }
        assert api.post("/units", json=unit).status_code == 201
    incident = _incident(demo, summary=payload)
    page = signed_in_page(browser, demo, "demo-commander")
    page.locator(f"#incidents li[data-id='{incident['id']}']").click()
    page.locator("#detail h2").wait_for()
    assert payload in page.inner_text("#detail")
    assert page.locator("#detail img, #detail script").count() == 0
    label = page.locator(".unit span", has_text='<b onmouseover="window.pwned=3">X</b>')
    assert label.count() == 1
    page.evaluate("() => { estran.map.map.setView([50.95, 1.84], 14, {animate: false}); }")
    label.hover()
    time.sleep(0.5)
    assert page.evaluate("() => window.pwned === undefined")
    assert not page.errors
    page.context.close()


def test_the_commander_publishes_tonight_s_plan_and_accepts_a_post(
    browser: Any, demo: Demo, shots: Path
):
    page = signed_in_page(browser, demo, "demo-commander")
    page.keyboard.press("p")
    page.locator("#plan-publish").click()
    page.wait_for_selector("#toast:has-text('Plan published')", timeout=120_000)
    page.locator("#plan li[data-post-row]").first.wait_for(timeout=15_000)
    # Posts on the map (the plan layer), each with its why in the console.
    _wait(page, "() => document.querySelectorAll('.post').length >= 5")
    assert "expected proportion intercepted" in page.inner_text("#plan")
    assert "best placed" in page.locator("#plan .why").first.inner_text()
    # What the plan knows of the organisers: learnt from the groups found, or why not yet.
    organisers = page.locator("#plan .organisers")
    assert "What we know of the organisers" in organisers.inner_text()
    with demo.api() as api:
        told = api.get("/plans/latest").json()["organisers"]
    if told["learnt"]:
        assert organisers.get_attribute("data-organisers") == "learnt"
        assert organisers.locator("tbody tr").count() == 6
        assert "±" in organisers.inner_text()
    else:
        assert organisers.get_attribute("data-organisers") == "assumed"
        assert f"{told['found']} of {told['min_found']} needed" in organisers.inner_text()
    # Once learnt (the API's own test makes the server learn them): each weight with its
    # uncertainty beside what the scenario assumed, how long they remember, how far they
    # watch, how much of tonight they see. Drawn here from an answer of that shape.
    learnt = {**told, "learnt": True, "found": 57, "nights": 30,
              "weights": {k: {"learnt": v + 1.0, "sd": 0.4, "assumed": v} for k, v in
                          {"cover": 3.0, "road": 1.5, "aversion": 6.0}.items()},
              "memory": {"learnt": 0.5, "assumed": 0.7},
              "watch_radius_m": {"learnt": 4000.0, "assumed": 2000.0},
              "tonight": {"learnt": 0.5, "assumed": 0.0}}  # fmt: skip
    page.evaluate("(o) => { estran.plan.latest.organisers = o; estran.plan.render(); }", learnt)
    assert organisers.get_attribute("data-organisers") == "learnt"
    rows = organisers.locator("tbody tr").all_inner_texts()
    assert [r.split("\t") for r in rows] == [
        ["taste for cover", "4.0 ± 0.4", "3.0"],
        ["taste for a road nearby", "2.5 ± 0.4", "1.5"],
        ["aversion to where they saw us", "7.0 ± 0.4", "6.0"],
        ["memory (weight of older nights)", "0.5", "0.7"],
        ["watch radius (km)", "4.0", "2.0"],
        ["share of tonight's posts they see", "0.5", "0.0"],
    ]
    assert "Learnt from 57 groups found over our last 30 nights" in organisers.inner_text()
    page.locator("#plan .organisers").screenshot(path=str(shots / "plan-organisers.png"))
    accept = page.locator("#plan button:has-text('Accept')").first
    post_id = accept.get_attribute("data-post")
    accept.click()
    page.wait_for_selector("#toast:has-text('Post accepted')")
    page.locator(f"#plan li.accepted[data-post-row='{post_id}']").wait_for(timeout=15_000)
    with demo.api() as api:
        post = api.get(f"/posts/{post_id}").json()
        assert post["status"] == "accepted"
        unit = api.get(f"/units/{post['unit_id']}").json()
        assert unit["agency_id"] == "FR-GN"  # a commander accepts their own agency's posts
    # The hot and cold sites: the plan layer colours every launch site by its coverage.
    page.keyboard.press("8")  # the plain launch-site dots off, to see the plan's
    page.screenshot(path=str(shots / "plan.png"))
    assert not page.errors
    page.context.close()
    # An analyst reads the plan but is offered neither publishing nor accepting.
    page = signed_in_page(browser, demo, "demo-analyst")
    page.keyboard.press("p")
    page.locator("#plan li[data-post-row]").first.wait_for(timeout=15_000)
    assert page.locator("#plan-publish").is_hidden()
    assert page.locator("#plan button:has-text('Accept')").count() == 0
    page.context.close()


def test_an_operator_sees_a_thermal_thumbnail_and_confirms_the_detection(
    browser: Any, demo: Demo, shots: Path
):
    import itertools

    import cv2

    from estran.domain.camera import LocalFrame
    from estran.sim.thermal_flight import FlightSpec, fly

    origin = LocalFrame(50.905, 1.690)
    with demo.api() as api:
        sensor = {"id": "uas-e2e", "name": "UAS e2e", "kind": "drone_thermal",
                  "agency_id": "FR-GN"}  # fmt: skip
        assert api.post("/sensors", json=sensor).status_code == 201
        written: list[str] = []
        for f in itertools.islice(fly(FlightSpec(seconds=4)), 40):
            lat, lon = origin.to_latlon(f.reported.east, f.reported.north)
            params = {"t": f.t, "lat": lat, "lon": lon, "alt_m": f.reported.alt,
                      "yaw_deg": f.reported.yaw, "pitch_deg": f.reported.pitch}  # fmt: skip
            png = cv2.imencode(".png", f.pixels)[1].tobytes()
            r = api.post("/sensors/uas-e2e/thermal", params=params, content=png)
            assert r.status_code == 200, r.text
            written += r.json()["written"]
        assert written
        det = api.get(f"/detections/{written[0]}").json()
    incident = _incident(demo, type="group_sighted", position=det["position"],
                         detection_ids=[written[0]])  # fmt: skip
    page = signed_in_page(browser, demo, "demo-commander")
    row = page.locator(f"#incidents li[data-id='{incident['id']}']")
    row.wait_for(timeout=15_000)
    row.click()
    _wait(page, "() => { const i = document.querySelector('#reports img.chip');"
                " return i && i.complete && i.naturalWidth === 64; }")  # fmt: skip
    page.locator(f"#reports button[data-review='{written[0]}'][data-act='confirmed']").click()
    page.wait_for_selector("#toast:has-text('Detection confirmed')")
    with demo.api() as api:
        assert api.get(f"/detections/{written[0]}").json()["review"] == "confirmed"
        history = api.get(f"/detections/{written[0]}/history").json()
    assert "demo-commander" in str(history)  # the verdict is stored, and by whom
    page.locator("#reports .badge:has-text('confirmed')").wait_for(timeout=10_000)
    page.screenshot(path=str(shots / "thermal-review.png"))
    assert not page.errors
    page.context.close()


def test_the_rescue_watch_down_shows_a_red_banner_no_one_can_close(
    browser: Any, demo: Demo, shots: Path
):
    page = signed_in_page(browser, demo, "demo-liaison")
    assert page.locator("#rescue-alarm").is_hidden()
    with demo.api("demo-admin") as api:
        r = api.post("/runtime/rescue/drill", params={"times": 5},
                     headers={"X-Justification": "watch floor drill"})  # fmt: skip
        assert r.status_code == 200, r.text
    banner = page.locator("#rescue-alarm")
    banner.wait_for(state="visible", timeout=10_000)
    assert "RESCUE WATCH DOWN" in banner.inner_text()
    assert banner.locator("button").count() == 0  # nothing to close it with
    page.keyboard.press("Escape")
    assert banner.is_visible()
    page.screenshot(path=str(shots / "rescue-watch-down.png"))
    banner.wait_for(state="hidden", timeout=20_000)  # the watch is back: so is the all-clear
    assert not page.errors
    page.context.close()


def test_a_partner_centres_record_is_drawn_as_the_partners_and_hidden_when_withdrawn(
    browser: Any, demo: Demo, shots: Path
):
    """The UK centre releases one of its patrols to France (played here on the federation's
    stream): the French watch floor draws it with the partner's own symbol, says whose it is
    and that it is read-only, and removes it the moment the UK withdraws it."""
    if demo.federation_root is None:
        pytest.skip(f"the demo is not federated: {NATS_SKIP_REASON}")
    import asyncio

    import nats
    import orjson

    from estran.adapters.jetstream_federation import record_subject
    from estran.domain.federation import foreign_key

    root = demo.federation_root
    record = {"entity": "unit", "id": "uk-bf-7", "callsign": "BORDER 7", "kind": "four_by_four",
              "agency_id": "UK-BF", "status": "available",
              "position": {"lat": 50.955, "lon": 1.80}, "updated_at": "2026-12-01T00:00:00Z",
              "marking": {"classification": "OFFICIAL", "releasable_to": ["FR", "GB"],
                          "purpose": "border_surveillance", "personal_data": False}}  # fmt: skip

    async def publish(op: str, seq: int) -> None:
        body = {"op": op, "centre": "UK-SBC-DOVER", "nation": "GB", "kind": "unit",
                "id": "uk-bf-7", "event_id": f"ev-uk-{seq}", "seq": seq}  # fmt: skip
        if op == "release":
            body["record"] = record
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().publish(record_subject(root, "GB", "FR", "unit", "uk-bf-7"),
                                     orjson.dumps(body))  # fmt: skip
        await nc.close()

    page = signed_in_page(browser, demo, "demo-commander")
    key = foreign_key("UK-SBC-DOVER", "unit", "uk-bf-7")
    in_thread(lambda: asyncio.run(publish("release", 1)))
    marker = page.locator(f".foreign[data-id='{key}']")
    marker.wait_for(timeout=30_000)
    assert "BORDER 7" in marker.inner_text()
    assert page.locator("input[data-layer='partner']").is_checked()
    marker.hover()
    tip = page.locator(".leaflet-tooltip").last
    tip.wait_for()
    assert "UK-SBC-DOVER" in tip.inner_text()
    assert "read-only" in tip.inner_text()
    page.screenshot(path=str(shots / "partner.png"))
    in_thread(lambda: asyncio.run(publish("withdraw", 2)))
    marker.wait_for(state="detached", timeout=30_000)
    page.context.close()


def test_a_rescue_escalation_sounds_is_logged_and_the_rescue_centre_acknowledges_it(
    browser: Any, demo: Demo, shots: Path
):
    """A boat at sea whose case MRCC Dover does not acknowledge in time: the watch floor shows
    the escalation and sounds (muting quietens the tone, never the bar), the duty log has it,
    and the rescue liaison acknowledges the case from the console, which ends the alert."""
    boat = _incident(demo, type="boat_at_sea", impact="very_high", owner_agency_id="UK-MRCC-DOVER",
                     position={"lat": 51.02, "lon": 1.75}, count=30,
                     summary="dinghy drifting north-west")  # fmt: skip
    case = f"sar-{boat['id']}"
    page = signed_in_page(browser, demo, "demo-commander")
    page.wait_for_function(f"() => estran.sar.cases.some((c) => c.id === '{case}')",
                           timeout=90_000)  # fmt: skip
    page.wait_for_function("() => estran.sar.ringing && estran.sar.beeps > 0")
    bar = page.locator("#sar-alert")
    assert bar.is_visible()
    assert case in bar.inner_text()
    # A bar above the map, not a curtain over it: the map keeps most of the screen.
    box, screen = bar.bounding_box(), page.viewport_size
    assert box is not None
    assert screen is not None
    assert box["height"] <= 25 * (len(page.evaluate("() => estran.sar.cases")) + 1)
    assert page.locator("#map").bounding_box()["height"] > 0.5 * screen["height"]
    page.screenshot(path=str(shots / "sar-escalation.png"))
    page.click("#sar-mute")
    assert page.evaluate("() => estran.sar.ringing") is False
    assert bar.is_visible()  # muted, not hidden
    page.click('[data-tab="log"]')
    page.locator("#log li", has_text=case).first.wait_for(timeout=15_000)
    assert "ESCALATED" in page.locator("#log li", has_text=case).first.inner_text()
    # MRCC Dover acknowledges it from its console.
    rescue = signed_in_page(browser, demo, "demo-rescue")
    rescue.locator(f"#incidents li[data-id='{boat['id']}']").click()
    rescue.locator(f"button[data-ack='{case}']").click()
    rescue.wait_for_selector("#toast:has-text('Acknowledged')")
    page.wait_for_function(f"() => !estran.sar.cases.some((c) => c.id === '{case}')",
                           timeout=15_000)  # fmt: skip
    with demo.api() as api:
        assert api.get(f"/rescue_cases/{case}").json()["status"] == "acknowledged"
    rescue.context.close()
    page.context.close()


CLIPPED = """() => {
  const box = document.querySelector('#console').getBoundingClientRect();
  const bad = [];
  for (const el of document.querySelectorAll(
      '#console button, #console td, #console h2, #console .badge, #console li, #console th')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right > box.right + 0.5 || r.left < box.left - 0.5 || el.scrollWidth > el.clientWidth + 1)
      bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""


UNTRANSLATED = """(lang) => {
  const cat = estran.catalogue, mine = cat[lang], other = cat[lang === "fr" ? "en" : "fr"];
  const foreign = new Set(Object.keys(other)
    .filter((k) => other[k] !== mine[k] && other[k].length > 3 && !other[k].includes("{"))
    .map((k) => other[k]));
  const hits = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || !el.offsetParent) continue;
    const text = n.textContent.trim();
    if (foreign.has(text)) hits.push(text);
  }
  for (const el of document.querySelectorAll("[title], [placeholder], [aria-label]"))
    for (const a of ["title", "placeholder", "aria-label"]) {
      const v = (el.getAttribute(a) || "").trim();
      if (v && foreign.has(v)) hits.push(v);
    }
  return hits;
}"""


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("viewport", [(1280, 800), (1920, 1080), (2560, 1440)])
def test_the_console_clips_nothing_at_common_screen_widths(
    browser: Any, demo: Demo, shots: Path, viewport: tuple[int, int], language: str
):
    """The console at the widths of the watch floor's screens, in French and in English: an
    incident with its units by time to arrive (task and propose buttons) and a task sent; no
    control, cell or title clipped or spilling out, no string left in the other language,
    and the task shown by its 4-character code, as phones know it."""
    from estran.domain.vocab import task_code

    incident = _incident(demo, summary="a long summary " * 8)
    with demo.api() as api:
        live = {"proposed", "sent", "acknowledged", "will_comply", "en_route", "on_scene"}
        busy = {k["unit_id"] for k in api.get("/tasks?limit=1000").json()["items"]
                if k["status"] in live}  # fmt: skip
        unit = next(u for u in api.get("/units?limit=200").json()["items"]
                    if u["agency_id"] == "FR-GN" and u["status"] == "available"
                    and u["id"] not in busy)  # fmt: skip
        r = api.post("/tasks", json={"incident_id": incident["id"], "unit_id": unit["id"]})
        assert r.status_code == 201, r.text
        task = r.json()["id"]
    page = signed_in_page(browser, demo, "demo-commander", viewport, language)
    assert page.evaluate("() => document.documentElement.lang") == language
    page.locator(f"#incidents li[data-id='{incident['id']}']").click()
    page.locator("#recs button").first.wait_for(timeout=30_000)
    code = page.locator(f"#tasks tr[data-task='{task}'] td.code")
    page.wait_for_function(
        f"() => document.querySelector(\"#tasks tr[data-task='{task}'] td.code\")"
        f".textContent === '{task_code(task)}'"
    )
    assert code.get_attribute("title") == task
    assert page.evaluate(CLIPPED) == []
    assert page.evaluate(UNTRANSLATED, language) == []
    expected = {"fr": ("Engager", "unités par délai d'arrivée"), "en": ("Task", "units by time")}
    assert expected[language][0] in page.inner_text("#recs")
    assert expected[language][1] in page.inner_text("#detail").lower()
    page.screenshot(path=str(shots / f"console-{language}-{viewport[0]}.png"))
    for tab in ("log", "plan", "figures"):
        page.click(f'[data-tab="{tab}"]')
        page.wait_for_timeout(300)
        assert page.evaluate(CLIPPED) == [], tab
        assert page.evaluate(UNTRANSLATED, language) == [], tab
    page.context.close()
