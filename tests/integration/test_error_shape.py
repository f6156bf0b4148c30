"""Bad input gets a 4xx with one documented JSON shape, and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from estran.config import Settings
    from tests.conftest import in_process

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("d"), max_body_bytes=16 * 1024, max_batch_events=50
    )
    with in_process(settings) as client:
        yield client


def assert_error(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "title", "message", "details"}
    assert body["error"]["title"]
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)


def head(api: httpx.Client) -> int:
    return api.get("/api/v1/health").json()["seq"]


FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()

CASES = [
    ("malformed json", "POST", "/api/v1/units", b"{not json", 422, "invalid_input"),
    ("empty body", "POST", "/api/v1/units", b"", 422, "invalid_input"),
    ("array for a record", "POST", "/api/v1/units", b"[]", 422, "invalid_input"),
    (
        "wrong type",
        "POST",
        "/api/v1/units",
        factories.unit(position={"lat": "north", "lon": 1}),
        422,
        "validation_error",
    ),
    (
        "latitude out of range",
        "POST",
        "/api/v1/units",
        factories.unit(position={"lat": 95, "lon": 1}),
        422,
        "validation_error",
    ),
    (
        "longitude out of range",
        "POST",
        "/api/v1/units",
        factories.unit(position={"lat": 50, "lon": -181}),
        422,
        "validation_error",
    ),
    (
        "unknown field",
        "POST",
        "/api/v1/units",
        factories.unit(colour="red"),
        422,
        "validation_error",
    ),
    (
        "unknown reference",
        "POST",
        "/api/v1/units",
        factories.unit(agency_id="NOPE"),
        422,
        "unknown_reference",
    ),
    ("unknown id", "PATCH", "/api/v1/units/nope", {"status": "tasked"}, 404, "not_found"),
    (
        "time far in the future",
        "POST",
        "/api/v1/units",
        {**factories.unit(), "observed_at": FUTURE},
        422,
        "time_in_future",
    ),
    (
        "naive time",
        "POST",
        "/api/v1/units",
        {**factories.unit(), "observed_at": "2026-11-24T22:00:00"},
        422,
        "validation_error",
    ),
    (
        "bad marking",
        "POST",
        "/api/v1/units",
        {**factories.unit(), "marking": {"classification": "TOP SECRET"}},
        422,
        "validation_error",
    ),
    (
        "unknown event type",
        "POST",
        "/api/v1/events",
        {"type": "unit.deleted", "data": {}},
        422,
        "validation_error",
    ),
    (
        "batch over the limit",
        "POST",
        "/api/v1/events",
        [{"type": "unit.created", "data": factories.unit()}] * 51,
        413,
        "payload_too_large",
    ),
    (
        "body over the limit",
        "POST",
        "/api/v1/units",
        {**factories.unit(), "pad": "x" * 20_000},
        413,
        "payload_too_large",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gets_the_error_shape_and_changes_nothing(api, method, path, body, status, code):
    before = head(api)
    if isinstance(body, bytes):
        reply = api.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
    else:
        reply = api.request(method, path, json=body)
    assert_error(reply, status, code)
    assert head(api) == before


def test_a_streamed_body_over_the_limit_is_refused(api):
    before = head(api)

    def chunks():
        for _ in range(40):
            yield b"x" * 1024

    reply = api.post(
        "/api/v1/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(reply, 413, "payload_too_large")
    assert head(api) == before


def test_a_batch_with_one_bad_event_writes_none_of_them(api):
    before = head(api)
    batch = [
        {"type": "unit.created", "data": factories.unit("OK")},
        {"type": "unit.created", "data": factories.unit("BAD", agency_id="NOPE")},
    ]
    reply = api.post("/api/v1/events", json=batch)
    assert_error(reply, 422, "unknown_reference")
    assert head(api) == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/units", {"bbox": "1,2,3"}),
        ("/api/v1/units", {"since": "yesterday"}),
        ("/api/v1/units", {"limit": "0"}),
        ("/api/v1/picture", {"at": "2999-01-01T00:00:00Z"}),
        ("/api/v1/picture", {"kinds": "units,spaceships"}),
        ("/api/v1/events", {"type": "unit.exploded"}),
    ],
)
def test_bad_query_parameters_get_the_error_shape(api, path, params):
    reply = api.get(path, params=params)
    assert reply.status_code == 422
    assert set(reply.json()["error"]) == {"status", "code", "title", "message", "details"}


def test_unknown_routes_and_ids_get_the_error_shape(api):
    assert_error(api.get("/api/v1/units/nope"), 404, "not_found")
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=json_values,
    path=st.sampled_from(
        [
            "/api/v1/units",
            "/api/v1/detections",
            "/api/v1/incidents",
            "/api/v1/events",
            "/api/v1/sectors",
        ]
    ),
)
def test_arbitrary_json_never_breaks_the_server(api, body, path):
    before = head(api)
    reply = api.post(path, json=body)
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert set(reply.json()["error"]) == {"status", "code", "title", "message", "details"}
        assert head(api) == before


def test_an_error_says_what_went_wrong_in_the_readers_language(api):
    """``title`` in French or English: what ``Accept-Language`` asks for, else the principal's
    nation's (the test commander is French), and ``Content-Language`` says which."""
    cases = [
        ({"Accept-Language": "fr-FR,fr;q=0.9"}, "fr", "Introuvable"),
        ({"Accept-Language": "en-GB"}, "en", "Not found"),
        ({"Accept-Language": "de-DE"}, "fr", "Introuvable"),  # neither: the account's nation
        ({}, "fr", "Introuvable"),
    ]
    messages = {"fr": "unité introuvable : 'nope'", "en": "no unit with id 'nope'"}
    for headers, lang, title in cases:
        reply = api.get("/api/v1/units/nope", headers=headers)
        assert reply.status_code == 404
        assert reply.headers["content-language"] == lang
        assert reply.json()["error"]["title"] == title
        assert reply.json()["error"]["message"] == messages[lang]  # the particulars too
    # The account's own choice comes before its nation's (kept with it, no store read on an
    # error: the language is remembered from sign-in and from the choice).
    assert api.put("/api/v1/auth/me/language", json={"language": "en"}).status_code == 200
    try:
        chosen = api.get("/api/v1/units/nope")
        assert chosen.headers["content-language"] == "en"
        assert chosen.json()["error"]["message"] == messages["en"]
    finally:
        api.put("/api/v1/auth/me/language", json={"language": "fr"})
    # Before sign-in there is no account: what the request asks for, else English.
    anonymous = api.get("/api/v1/units", headers={"Authorization": "Bearer est_nobody"})
    assert anonymous.json()["error"]["title"] == "Sign in first"
    french = api.get("/api/v1/units", headers={"Authorization": "Bearer est_nobody",
                                               "Accept-Language": "fr"})  # fmt: skip
    assert french.json()["error"]["title"] == "Connectez-vous d'abord"
    assert api.post("/api/v1/units", content=b"{", headers={"Accept-Language": "fr"}).json()[
        "error"]["title"] == "Saisie invalide"  # fmt: skip
