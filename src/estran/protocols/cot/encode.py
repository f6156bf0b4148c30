"""Encoding CoT: pure functions that return bytes (XML events, TAK v1 payloads and frames).

Times come in as arguments (milliseconds since the epoch): nothing here reads a clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from xml.sax.saxutils import escape, quoteattr

from takproto.proto import TakMessage

from estran.protocols.cot.messages import (
    MESH_MAGIC,
    PONG_TYPE,
    STREAM_MAGIC,
    TAKP_OFFER,
    TAKP_REQUEST,
    TAKP_RESPONSE,
    CotEvent,
    Point,
)
from estran.protocols.cot.parse import parse_fragment

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "build_event",
    "detail_xml",
    "encode_varint",
    "iso_ms",
    "mesh_frame",
    "ms_iso",
    "pong",
    "stream_frame",
    "takp_offer",
    "takp_request",
    "takp_response",
    "to_proto",
    "to_xml",
    "xml_text",
]

_KNOWN: Final = ("contact", "__group", "precisionlocation", "status", "takv", "track")


_XML_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
"""Characters XML 1.0 forbids: they would make a TAK client drop (or choke on) the event."""


def xml_text(value: str) -> str:
    """``value`` escaped as XML character data, with XML-illegal characters (NUL and other
    controls) replaced: Estran's records may hold any text, TAK clients must get valid XML."""
    return escape(_XML_ILLEGAL.sub("\ufffd", value))


def _attr(value: str) -> str:
    return quoteattr(_XML_ILLEGAL.sub("\ufffd", value))


def _num(value: float) -> str:
    return repr(float(value))


def to_xml(ev: CotEvent) -> bytes:
    """The event as CoT XML, its detail's inner XML verbatim."""
    attrs = [
        f"version={_attr(ev.version)}",
        f"uid={_attr(ev.uid)}",
        f"type={_attr(ev.type)}",
        f"how={_attr(ev.how)}",
        f"time={_attr(ev.time)}",
        f"start={_attr(ev.start)}",
        f"stale={_attr(ev.stale)}",
    ]
    for name in ("access", "qos", "opex"):
        value = getattr(ev, name)
        if value:
            attrs.append(f"{name}={_attr(value)}")
    p = ev.point
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<event {" ".join(attrs)}>'
        f'<point lat="{_num(p.lat)}" lon="{_num(p.lon)}" hae="{_num(p.hae)}" '
        f'ce="{_num(p.ce)}" le="{_num(p.le)}"/>'
        f"<detail>{ev.detail_xml}</detail></event>"
    ).encode()


def iso_ms(value: str) -> int:
    """CoT's ISO 8601 time -> milliseconds since the epoch (TAK protobuf)."""
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def ms_iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_proto(ev: CotEvent) -> bytes:
    """The event as a TAK Protocol v1 ``TakMessage`` payload (no framing).

    Known detail children go into the typed fields; everything else into ``xmlDetail``.
    """
    msg = TakMessage()
    c = msg.cotEvent
    c.type = ev.type
    c.uid = ev.uid
    c.how = ev.how
    if ev.access:
        c.access = ev.access
    if ev.qos:
        c.qos = ev.qos
    if ev.opex:
        c.opex = ev.opex
    c.sendTime = iso_ms(ev.time)
    c.startTime = iso_ms(ev.start)
    c.staleTime = iso_ms(ev.stale)
    c.lat, c.lon, c.hae, c.ce, c.le = (
        ev.point.lat,
        ev.point.lon,
        ev.point.hae,
        ev.point.ce,
        ev.point.le,
    )
    d = c.detail
    if ev.contact is not None:
        if ev.contact.callsign:
            d.contact.callsign = ev.contact.callsign
        if ev.contact.endpoint:
            d.contact.endpoint = ev.contact.endpoint
        d.contact.SetInParent()
    if ev.group is not None:
        d.group.name = ev.group.name or ""
        d.group.role = ev.group.role or ""
    if ev.geopointsrc or ev.altsrc:
        d.precisionLocation.geopointsrc = ev.geopointsrc or ""
        d.precisionLocation.altsrc = ev.altsrc or ""
    if ev.battery is not None:
        d.status.battery = max(0, ev.battery)
    if ev.takv is not None:
        d.takv.device = ev.takv.device or ""
        d.takv.platform = ev.takv.platform or ""
        d.takv.os = ev.takv.os or ""
        d.takv.version = ev.takv.version or ""
    if ev.track is not None:
        d.track.speed = ev.track.speed or 0.0
        d.track.course = ev.track.course or 0.0
    if ev.detail_xml:
        root = parse_fragment(f"<detail>{ev.detail_xml}</detail>", "detail")
        from xml.etree.ElementTree import tostring

        rest = [
            tostring(child, encoding="unicode", short_empty_elements=True).strip()
            for child in root
            if child.tag not in _KNOWN
        ]
        if rest:
            d.xmlDetail = "".join(rest)
    out: bytes = msg.SerializeToString()
    return out


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def stream_frame(payload: bytes) -> bytes:
    """TAK Protocol v1 streaming: ``0xbf``, the payload's length as a varint, the payload."""
    return bytes([STREAM_MAGIC]) + encode_varint(len(payload)) + payload


def mesh_frame(payload: bytes) -> bytes:
    """TAK Protocol v1 mesh (UDP): ``0xbf 0x01 0xbf`` then the payload."""
    return MESH_MAGIC + payload


def detail_xml(
    *,
    callsign: str | None = None,
    group: str | None = None,
    role: str | None = None,
    remarks: str | None = None,
    links: Iterable[dict[str, str]] = (),
    extra: str = "",
) -> str:
    """A detail's inner XML for events Estran builds itself."""
    parts = []
    if callsign:
        parts.append(f"<contact callsign={_attr(callsign)}/>")
    if group:
        parts.append(f"<__group name={_attr(group)} role={_attr(role or 'Team Member')}/>")
    for link in links:
        body = " ".join(f"{k}={_attr(v)}" for k, v in link.items())
        parts.append(f"<link {body}/>")
    if remarks:
        parts.append(f"<remarks>{xml_text(remarks)}</remarks>")
    return "".join(parts) + extra


def build_event(
    *,
    uid: str,
    type: str,
    now_ms: int,
    stale_s: float,
    lat: float,
    lon: float,
    how: str = "h-g-i-g-o",
    detail: str = "",
    ce: float = 9_999_999.0,
) -> CotEvent:
    now = ms_iso(now_ms)
    return CotEvent(
        uid=uid,
        type=type,
        time=now,
        start=now,
        stale=ms_iso(now_ms + round(stale_s * 1000)),
        point=Point(lat, lon, 9_999_999.0, ce, 9_999_999.0),
        how=how,
        detail_xml=detail,
    )


def _control(type_: str, uid: str, now_ms: int, inner: str) -> bytes:
    return to_xml(
        build_event(
            uid=uid,
            type=type_,
            now_ms=now_ms,
            stale_s=60,
            lat=0.0,
            lon=0.0,
            how="m-g",
            detail=f"<TakControl>{inner}</TakControl>",
        )
    )


def takp_offer(now_ms: int) -> bytes:
    """The server's offer of TAK Protocol v1, sent (as XML) when a client connects."""
    return _control(TAKP_OFFER, "protouid", now_ms, '<TakProtocolSupport version="1"/>')


def takp_request(now_ms: int) -> bytes:
    """A client's request to switch to TAK Protocol v1 (for clients and tests)."""
    return _control(TAKP_REQUEST, "protouid", now_ms, '<TakRequest version="1"/>')


def takp_response(now_ms: int, accepted: bool) -> bytes:
    """The server's answer; once it says true, both sides speak protobuf."""
    status = "true" if accepted else "false"
    return _control(TAKP_RESPONSE, "protouid", now_ms, f'<TakResponse status="{status}"/>')


def pong(now_ms: int) -> CotEvent:
    """The answer to a client's ``t-x-c-t`` ping."""
    return build_event(
        uid="takPong", type=PONG_TYPE, now_ms=now_ms, stale_s=20, lat=0.0, lon=0.0, how="h-g-i-g-o"
    )
