"""The CoT codec against sample messages in the shapes real clients send, against takproto
(an independent implementation of TAK Protocol v1), and against hostile input."""

from __future__ import annotations

import pytest
import takproto
import takproto.functions
from hypothesis import given, settings
from hypothesis import strategies as st
from takproto.proto import TakMessage

from estran.domain.errors import ProtocolError
from estran.protocols.cot.encode import (
    encode_varint,
    mesh_frame,
    stream_frame,
    takp_offer,
    takp_request,
    to_proto,
    to_xml,
)
from estran.protocols.cot.parse import (
    Received,
    StreamParser,
    decode_varint,
    parse_datagram,
    parse_proto,
    parse_xml,
)

# An ATAK position report (SA), in the shape ATAK 4.x sends it.
ATAK_SA = b"""<?xml version='1.0' encoding='UTF-8' standalone='yes'?>
<event version='2.0' uid='ANDROID-589520ccfcd20f01' type='a-f-G-U-C' time='2026-11-24T23:01:02.345Z' start='2026-11-24T23:01:02.345Z' stale='2026-11-24T23:07:17.345Z' how='h-e'><point lat='50.8853' lon='1.6614' hae='22.3' ce='4.9' le='9999999.0' /><detail><takv os='34' version='4.10.0.10 (c0b6b2a6).1715000000-CIV' device='SAMSUNG SM-G781B' platform='ATAK-CIV'/><contact endpoint='*:-1:stcp' callsign='WISSANT-2'/><uid Droid='WISSANT-2'/><precisionlocation altsrc='GPS' geopointsrc='GPS'/><__group role='Team Member' name='Cyan'/><status battery='84'/><track course='271.5' speed='1.4'/><_flow-tags_ TAK-Server-f1a8='2026-11-24T23:01:02Z'/></detail></event>"""  # noqa: E501

# A GeoChat message, as ATAK sends one to "All Chat Rooms".
GEOCHAT = b"""<?xml version='1.0' encoding='UTF-8' standalone='yes'?>
<event version='2.0' uid='GeoChat.ANDROID-589520ccfcd20f01.All Chat Rooms.5f0e' type='b-t-f' time='2026-11-24T23:05:00.000Z' start='2026-11-24T23:05:00.000Z' stale='2026-11-25T23:05:00.000Z' how='h-g-i-g-o'><point lat='50.8853' lon='1.6614' hae='9999999.0' ce='9999999.0' le='9999999.0' /><detail><__chat parent='RootContactGroup' groupOwner='false' messageId='5f0e' chatroom='All Chat Rooms' id='All Chat Rooms' senderCallsign='WISSANT-2'><chatgrp uid0='ANDROID-589520ccfcd20f01' uid1='All Chat Rooms' id='All Chat Rooms'/></__chat><link uid='ANDROID-589520ccfcd20f01' type='a-f-G-U-C' relation='p-p'/><remarks source='BAO.F.ATAK.ANDROID-589520ccfcd20f01' to='All Chat Rooms' time='2026-11-24T23:05:00.000Z'>Group of ~30 in dunes east of Wissant, moving to beach</remarks></detail></event>"""  # noqa: E501

# A drone ground station's sensor point of interest (hostile ground, with a count).
DRONE_SPI = b"""<event version="2.0" uid="UAS-7.spi" type="a-u-G" how="m-p" time="2026-11-24T23:10:00Z" start="2026-11-24T23:10:00Z" stale="2026-11-24T23:12:00Z"><point lat="50.9601" lon="1.9512" hae="5" ce="25" le="30"/><detail><link uid="UAS-7" type="a-f-A-M-F-Q" relation="p-p"/><remarks>thermal: group of 12 under tree cover</remarks><sensor fov="45" azimuth="310" range="400"/></detail></event>"""  # noqa: E501


def ok(result: Received | ProtocolError) -> Received:
    assert isinstance(result, Received), result
    return result


def test_an_atak_position_report_is_parsed_with_every_detail_clients_rely_on():
    ev = parse_xml(ATAK_SA)
    assert ev.uid == "ANDROID-589520ccfcd20f01"
    assert ev.type == "a-f-G-U-C"
    assert ev.affiliation == "f"
    assert (ev.point.lat, ev.point.lon, ev.point.ce) == (50.8853, 1.6614, 4.9)
    assert ev.contact is not None
    assert ev.contact.callsign == "WISSANT-2"
    assert ev.contact.endpoint == "*:-1:stcp"
    assert ev.group is not None
    assert (ev.group.name, ev.group.role) == ("Cyan", "Team Member")
    assert ev.takv is not None
    assert ev.takv.platform == "ATAK-CIV"
    assert ev.track is not None
    assert (ev.track.speed, ev.track.course) == (1.4, 271.5)
    assert ev.battery == 84
    assert (ev.geopointsrc, ev.altsrc) == ("GPS", "GPS")
    assert ev.droid == "WISSANT-2"
    # Unknown detail (the flow tags) is kept verbatim.
    assert "<_flow-tags_ TAK-Server-f1a8='2026-11-24T23:01:02Z'/>" in ev.detail_xml


def test_a_geochat_and_a_drone_point_keep_their_links_and_remarks():
    chat = parse_xml(GEOCHAT)
    assert chat.type == "b-t-f"
    assert chat.remarks == "Group of ~30 in dunes east of Wissant, moving to beach"
    assert chat.links[0].uid == "ANDROID-589520ccfcd20f01"
    assert "<__chat parent='RootContactGroup'" in chat.detail_xml
    spi = parse_xml(DRONE_SPI)
    assert spi.affiliation == "u"
    assert spi.links[0].type == "a-f-A-M-F-Q"
    assert '<sensor fov="45" azimuth="310" range="400"/>' in spi.detail_xml


@pytest.mark.parametrize("sample", [ATAK_SA, GEOCHAT, DRONE_SPI])
def test_xml_round_trips_to_the_same_event(sample):
    ev = parse_xml(sample)
    assert parse_xml(to_xml(ev)) == ev


@pytest.mark.parametrize("sample", [ATAK_SA, DRONE_SPI])
def test_our_protobuf_is_read_by_takproto_with_the_same_content(sample):
    ev = parse_xml(sample)
    theirs = takproto.parse_proto(stream_frame(to_proto(ev)))
    assert isinstance(theirs, TakMessage)
    c = theirs.cotEvent
    assert (c.uid, c.type, c.how) == (ev.uid, ev.type, ev.how)
    assert (c.lat, c.lon) == (ev.point.lat, ev.point.lon)
    if ev.contact is not None:
        assert c.detail.contact.callsign == ev.contact.callsign
    mesh = takproto.parse_proto(mesh_frame(to_proto(ev)))
    assert mesh.cotEvent.uid == ev.uid


def test_takproto_protobuf_is_read_by_us_with_the_same_content():
    theirs = takproto.functions.xml2message(ATAK_SA).SerializeToString()
    ev = parse_proto(theirs)
    ours = parse_xml(ATAK_SA)
    assert (ev.uid, ev.type, ev.point) == (ours.uid, ours.type, ours.point)
    assert ev.contact == ours.contact
    assert ev.group == ours.group
    assert ev.track == ours.track
    assert ev.battery == ours.battery
    assert ev.takv == ours.takv
    # Unknown detail survives the trip through xmlDetail.
    assert "_flow-tags_" in ev.detail_xml
    assert ev.time.startswith("2026-11-24T23:01:02.345")


def test_protobuf_round_trip_keeps_the_event():
    for sample in (ATAK_SA, DRONE_SPI):
        ev = parse_xml(sample)
        back = parse_proto(to_proto(ev))
        assert (back.uid, back.type, back.point, back.contact, back.group) == (
            ev.uid,
            ev.type,
            ev.point,
            ev.contact,
            ev.group,
        )
        assert back.remarks == ev.remarks
        assert back.links == ev.links


def test_unknown_protobuf_fields_are_ignored():
    payload = to_proto(parse_xml(ATAK_SA))
    # Field 15, wire type 0 (varint): a field this version does not know.
    extended = payload + bytes([15 << 3]) + encode_varint(12345)
    assert parse_proto(extended).uid == "ANDROID-589520ccfcd20f01"


def test_a_stream_split_anywhere_gives_the_same_events():
    stream = ATAK_SA + b"\n" + GEOCHAT + DRONE_SPI
    whole = [ok(r).event for r in StreamParser().feed(stream)]
    assert [e.type for e in whole] == ["a-f-G-U-C", "b-t-f", "a-u-G"]
    for step in (1, 7, 64, 1000):
        parser = StreamParser()
        got = []
        for i in range(0, len(stream), step):
            got += [ok(r).event for r in parser.feed(stream[i : i + step])]
        assert got == whole


def test_a_negotiated_stream_carries_protobuf_frames():
    parser = StreamParser()
    (request,) = parser.feed(takp_request(1_700_000_000_000))
    assert ok(request).event.type == "t-x-takp-q"
    parser.use_protobuf()
    frames = b"".join(stream_frame(to_proto(parse_xml(s))) for s in (ATAK_SA, DRONE_SPI))
    got = []
    for i in range(0, len(frames), 5):
        got += parser.feed(frames[i : i + 5])
    assert [ok(r).event.uid for r in got] == ["ANDROID-589520ccfcd20f01", "UAS-7.spi"]
    assert all(ok(r).encoding == "proto" for r in got)
    with pytest.raises(ProtocolError) as err:
        parser.feed(b"<event/>")
    assert err.value.fatal


def test_the_offer_is_valid_cot():
    offer = parse_xml(takp_offer(1_700_000_000_000))
    assert offer.type == "t-x-takp-v"
    assert '<TakProtocolSupport version="1"/>' in offer.detail_xml


XXE = b"""<?xml version="1.0"?><!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<event version="2.0" uid="x" type="a-f-G" time="2026-11-24T23:00:00Z" start="2026-11-24T23:00:00Z" stale="2026-11-24T23:05:00Z"><point lat="1" lon="1"/><detail><remarks>&xxe;</remarks></detail></event>"""  # noqa: E501
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><event version="2.0" uid="x" type="a-f-G" time="2026-11-24T23:00:00Z" '
    b'start="2026-11-24T23:00:00Z" stale="2026-11-24T23:05:00Z"><point lat="1" lon="1"/>'
    b"<detail><remarks>&lol9;</remarks></detail></event>"
)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (XXE, "forbidden XML"),
        (LAUGHS, "forbidden XML"),
        (b"<event uid='x' type='a'>" + b"x" * 70_000 + b"</event>", "exceeds"),
        (ATAK_SA.replace(b"WISSANT-2'/><uid", b"WISS\xff\xfeNT'/><uid"), "UTF-8"),
        (b"<event><point lat='1' lon='1'/></event>", "uid"),
        (ATAK_SA.replace(b"lat='50.8853'", b"lat='95.0'"), "out of range"),
        (ATAK_SA.replace(b"lat='50.8853'", b"lat='nan'"), "finite"),
        (ATAK_SA.replace(b"time='2026-11-24T23:01:02.345Z'", b"time='yesterday'"), "ISO 8601"),
        (b"<notevent/>", "not <event>"),
        (b"<event uid='x' type='a' <<", "malformed"),
    ],
)
def test_hostile_or_broken_xml_is_refused_with_a_reason(data, says):
    with pytest.raises(ProtocolError) as err:
        parse_xml(data)
    assert says in err.value.message


def test_the_stream_parser_refuses_what_cannot_end():
    parser = StreamParser(max_event_bytes=1024)
    with pytest.raises(ProtocolError) as err:
        parser.feed(b"<event uid='x'>" + b"a" * 2000)
    assert err.value.fatal
    frames = StreamParser(max_event_bytes=1024)
    with pytest.raises(ProtocolError) as err:
        frames.feed(b"\xbf" + encode_varint(5000))
    assert err.value.fatal
    assert "exceeds" in err.value.message


def test_a_bad_message_in_a_stream_is_reported_and_the_next_one_still_arrives():
    parser = StreamParser()
    got = parser.feed(XXE + ATAK_SA)
    assert isinstance(got[0], ProtocolError)
    assert ok(got[1]).event.uid == "ANDROID-589520ccfcd20f01"


def test_a_truncated_frame_waits_for_the_rest():
    frame = stream_frame(to_proto(parse_xml(ATAK_SA)))
    parser = StreamParser()
    assert parser.feed(frame[:-10]) == []
    assert parser.buffered == len(frame) - 10
    (done,) = parser.feed(frame[-10:])
    assert ok(done).event.uid == "ANDROID-589520ccfcd20f01"


def test_datagrams_in_mesh_or_xml_form():
    ev = parse_xml(DRONE_SPI)
    assert parse_datagram(mesh_frame(to_proto(ev))).event.uid == "UAS-7.spi"
    assert parse_datagram(DRONE_SPI).event.uid == "UAS-7.spi"


@given(st.integers(min_value=0, max_value=2**63))
def test_varints_round_trip(value):
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_crash_or_hang_the_stream_parser(chunks):
    parser = StreamParser(max_event_bytes=2048)
    for chunk in chunks:
        try:
            results = parser.feed(chunk)
        except ProtocolError as exc:
            fatal = exc.fatal
            results = None
        if results is None:
            assert fatal  # only fatal errors are raised; the stream is closed after one
            return
        for result in results:
            assert isinstance(result, ProtocolError) or result.event.uid
        assert parser.buffered <= 2048 + 300


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_protobuf_payloads_parse_or_are_refused(payload):
    try:
        ev = parse_proto(payload)
    except ProtocolError:
        return
    assert ev.uid
    assert -90 <= ev.point.lat <= 90


@settings(max_examples=200, deadline=None)
@given(mutation=st.tuples(st.integers(0, len(ATAK_SA) - 1), st.binary(min_size=1, max_size=8)))
def test_mutated_atak_messages_parse_or_are_refused(mutation):
    at, junk = mutation
    data = ATAK_SA[:at] + junk + ATAK_SA[at + len(junk) :]
    try:
        ev = parse_xml(data)
    except ProtocolError:
        return
    assert parse_xml(to_xml(ev)).uid == ev.uid
