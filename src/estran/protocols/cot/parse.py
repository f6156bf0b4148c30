"""Parsing CoT: XML events (defusedxml), TAK Protocol v1 payloads, and a fed stream parser.

Everything here is fed bytes and enforces explicit maximums, so tests need no socket (as
aiohttp's ``http_parser.feed_data``). XML goes through defusedxml with DTDs, entities and
external references forbidden: XXE and billion-laughs documents are refused before expansion.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from google.protobuf.message import DecodeError
from takproto.proto import TakMessage

from estran.domain.errors import ProtocolError
from estran.domain.messages import msg
from estran.protocols.cot.messages import (
    MAX_DETAIL_BYTES,
    MAX_EVENT_BYTES,
    MAX_VARINT_BYTES,
    NO_VALUE,
    STREAM_MAGIC,
    Contact,
    CotEvent,
    Group,
    Link,
    Point,
    TakVersion,
    Track,
)

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "Received",
    "StreamParser",
    "decode_varint",
    "ms_to_iso",
    "parse_datagram",
    "parse_fragment",
    "parse_proto",
    "parse_xml",
]

_DETAIL_OPEN: Final = re.compile(r"<detail(?:\s[^>]*)?(/?)>")
_MAX_STR: Final = 1024


@dataclass(frozen=True, slots=True)
class Received:
    """One message from a stream: the event, its raw bytes as sent, and how it was encoded."""

    event: CotEvent
    raw: bytes
    encoding: Literal["xml", "proto"]


def _text(value: str | None, what: str) -> str | None:
    if value is not None and len(value) > _MAX_STR:
        raise ProtocolError(
            msg("{what} longer than {MAX_STR} characters", what=what, MAX_STR=_MAX_STR)
        )
    return value


def _float(value: str | None, what: str, default: float | None = None) -> float:
    if value is None:
        if default is None:
            raise ProtocolError(msg("{what} is missing", what=what))
        return default
    try:
        out = float(value)
    except ValueError:
        raise ProtocolError(
            msg("{what} is not a number: {value!r}", what=what, value=value[:32])
        ) from None
    if not math.isfinite(out):
        raise ProtocolError(msg("{what} is not finite", what=what))
    return out


def _time(value: str | None, what: str) -> str:
    if not value:
        raise ProtocolError(msg("event has no {what}", what=what))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ProtocolError(
            msg("event {what} is not an ISO 8601 time: {value!r}", what=what, value=value[:40])
        ) from None
    if moment.tzinfo is None:
        raise ProtocolError(msg("event {what} has no time zone", what=what))
    _in_window(moment, what)
    return value


_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)


def _in_window(moment: datetime, what: str) -> None:
    """Times outside 2000-2200 are refused at the door (a year-999 time once broke every
    later purge when it reached the store)."""
    if not _EARLIEST <= moment < _LATEST:
        raise ProtocolError(
            msg(
                "event {what} {moment} is outside 2000 to 2200",
                what=what,
                moment=moment.isoformat(),
            )
        )


def _point(lat: float, lon: float, hae: float, ce: float, le: float) -> Point:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ProtocolError(msg("point ({lat}, {lon}) is out of range", lat=lat, lon=lon))
    return Point(lat, lon, hae, ce, le)


def _from_detail(detail: Element) -> dict[str, object]:
    """The detail children TAK clients rely on, as ``CotEvent`` fields."""
    out: dict[str, object] = {}
    links: list[Link] = []
    for child in detail:
        tag, a = child.tag, child.attrib
        if tag == "contact":
            out["contact"] = Contact(
                _text(a.get("callsign"), "callsign"), _text(a.get("endpoint"), "endpoint")
            )
        elif tag == "__group":
            out["group"] = Group(_text(a.get("name"), "group"), _text(a.get("role"), "role"))
        elif tag == "takv":
            out["takv"] = TakVersion(
                a.get("device"), a.get("platform"), a.get("os"), a.get("version")
            )
        elif tag == "track":
            speed = a.get("speed")
            course = a.get("course")
            out["track"] = Track(
                None if speed is None else _float(speed, "track speed"),
                None if course is None else _float(course, "track course"),
            )
        elif tag == "status":
            battery = a.get("battery")
            if battery is not None:
                try:
                    out["battery"] = int(float(battery))
                except ValueError:
                    raise ProtocolError(msg("status battery is not a number")) from None
        elif tag == "precisionlocation":
            out["geopointsrc"] = a.get("geopointsrc")
            out["altsrc"] = a.get("altsrc")
        elif tag == "remarks":
            out["remarks"] = (child.text or "")[:MAX_DETAIL_BYTES]
        elif tag == "link":
            links.append(Link(a.get("uid"), a.get("type"), a.get("relation")))
        elif tag == "uid":
            out["droid"] = a.get("Droid")
    if links:
        out["links"] = tuple(links)
    return out


def _detail_inner(text: str) -> str:
    """The inner XML of ``<detail>``, sliced from the (already well-formed) document."""
    found = _DETAIL_OPEN.search(text)
    if found is None or found.group(1) == "/":
        return ""
    end = text.rfind("</detail>")
    return text[found.end() : end] if end >= found.end() else ""


def parse_fragment(text: str, what: str) -> Element:
    try:
        root: Element = fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ProtocolError(
            msg(
                "{what}: forbidden XML construct ({construct})",
                what=what,
                construct=type(exc).__name__,
            )
        ) from exc
    except ParseError as exc:
        raise ProtocolError(msg("{what}: malformed XML ({exc})", what=what, exc=exc)) from exc
    return root


def parse_xml(data: bytes, max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """One CoT XML ``<event>``; ``ProtocolError`` says why it is refused."""
    if len(data) > max_bytes:
        raise ProtocolError(
            msg(
                "event of {n_data} bytes exceeds {max_bytes}", n_data=len(data), max_bytes=max_bytes
            ),
            size=len(data),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            msg("event is not valid UTF-8 (byte {start})", start=exc.start)
        ) from None
    root = parse_fragment(text, "event")
    if root.tag != "event":
        raise ProtocolError(msg("root element is <{tag}>, not <event>", tag=root.tag[:32]))
    a = root.attrib
    uid = a.get("uid")
    kind = a.get("type")
    if not uid or not kind:
        raise ProtocolError(msg("event needs a uid and a type"))
    point_el = root.find("point")
    if point_el is None:
        raise ProtocolError(msg("event has no <point>"))
    p = point_el.attrib
    point = _point(
        _float(p.get("lat"), "lat"),
        _float(p.get("lon"), "lon"),
        _float(p.get("hae"), "hae", NO_VALUE),
        _float(p.get("ce"), "ce", NO_VALUE),
        _float(p.get("le"), "le", NO_VALUE),
    )
    detail = root.find("detail")
    fields = _from_detail(detail) if detail is not None else {}
    inner = _detail_inner(text) if detail is not None else ""
    if len(inner) > MAX_DETAIL_BYTES:
        raise ProtocolError(
            msg("detail exceeds {MAX_DETAIL_BYTES} bytes", MAX_DETAIL_BYTES=MAX_DETAIL_BYTES),
            size=len(inner),
        )
    return CotEvent(
        uid=_text(uid, "uid") or uid,
        type=_text(kind, "type") or kind,
        time=_time(a.get("time"), "time"),
        start=_time(a.get("start"), "start"),
        stale=_time(a.get("stale"), "stale"),
        point=point,
        how=a.get("how") or "h-g-i-g-o",
        version=a.get("version") or "2.0",
        access=a.get("access"),
        qos=a.get("qos"),
        opex=a.get("opex"),
        detail_xml=inner,
        **fields,  # type: ignore[arg-type]
    )


def ms_to_iso(ms: int) -> str:
    """Milliseconds since the epoch (TAK protobuf) -> CoT's ISO 8601 UTC."""
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtocolError(msg("time {ms} ms is out of range", ms=ms)) from None
    _in_window(moment, "time")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_proto(payload: bytes, max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """A TAK Protocol v1 ``TakMessage`` payload (without framing) as a ``CotEvent``."""
    if len(payload) > max_bytes:
        raise ProtocolError(
            msg(
                "message of {n_payload} bytes exceeds {max_bytes}",
                n_payload=len(payload),
                max_bytes=max_bytes,
            )
        )
    tak = TakMessage()
    try:
        tak.ParseFromString(payload)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ProtocolError(msg("malformed TAK protobuf ({exc})", exc=exc)) from None
    if not tak.HasField("cotEvent"):
        raise ProtocolError(msg("TAK message carries no cotEvent"))
    ev = tak.cotEvent
    if not ev.uid or not ev.type:
        raise ProtocolError(msg("event needs a uid and a type"))
    d = ev.detail
    parts: list[str] = []
    fields: dict[str, object] = {}
    if d.HasField("contact"):
        fields["contact"] = Contact(d.contact.callsign or None, d.contact.endpoint or None)
        parts.append(_element("contact", endpoint=d.contact.endpoint, callsign=d.contact.callsign))
    if d.HasField("group"):
        fields["group"] = Group(d.group.name or None, d.group.role or None)
        parts.append(_element("__group", name=d.group.name, role=d.group.role))
    if d.HasField("precisionLocation"):
        fields["geopointsrc"] = d.precisionLocation.geopointsrc or None
        fields["altsrc"] = d.precisionLocation.altsrc or None
        parts.append(
            _element(
                "precisionlocation",
                geopointsrc=d.precisionLocation.geopointsrc,
                altsrc=d.precisionLocation.altsrc,
            )
        )
    if d.HasField("status"):
        fields["battery"] = int(d.status.battery)
        parts.append(_element("status", battery=str(d.status.battery)))
    if d.HasField("takv"):
        t = d.takv
        fields["takv"] = TakVersion(t.device, t.platform, t.os, t.version)
        parts.append(
            _element("takv", device=t.device, platform=t.platform, os=t.os, version=t.version)
        )
    if d.HasField("track"):
        fields["track"] = Track(d.track.speed, d.track.course)
        parts.append(_element("track", speed=repr(d.track.speed), course=repr(d.track.course)))
    if d.xmlDetail:
        if len(d.xmlDetail) > MAX_DETAIL_BYTES:
            raise ProtocolError(
                msg("detail exceeds {MAX_DETAIL_BYTES} bytes", MAX_DETAIL_BYTES=MAX_DETAIL_BYTES)
            )
        extra = _from_detail(parse_fragment(f"<detail>{d.xmlDetail}</detail>", "xmlDetail"))
        fields.update({k: v for k, v in extra.items() if k not in fields})
        parts.append(d.xmlDetail)
    point = _point(ev.lat, ev.lon, ev.hae, ev.ce, ev.le)
    return CotEvent(
        uid=_text(ev.uid, "uid") or ev.uid,
        type=_text(ev.type, "type") or ev.type,
        time=ms_to_iso(ev.sendTime),
        start=ms_to_iso(ev.startTime),
        stale=ms_to_iso(ev.staleTime),
        point=point,
        how=ev.how or "h-g-i-g-o",
        access=ev.access or None,
        qos=ev.qos or None,
        opex=ev.opex or None,
        detail_xml="".join(parts),
        **fields,  # type: ignore[arg-type]
    )


def _element(tag: str, **attrs: str | None) -> str:
    from xml.sax.saxutils import quoteattr

    body = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v)
    return f"<{tag} {body}/>" if body else f"<{tag}/>"


def decode_varint(buf: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """(value, bytes used) of the varint at ``start``; None while incomplete."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        pos = start + i
        if pos >= len(buf):
            return None
        byte = buf[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ProtocolError(msg("varint longer than 10 bytes"), fatal=True)


class StreamParser:
    """Splits a TAK stream into events: XML delimited by ``</event>``, or, once the client
    negotiated TAK Protocol v1 (or simply sends it), ``0xbf`` + varint length + protobuf.

    ``feed`` returns the messages completed by the new bytes, with a ``ProtocolError`` in
    place of each bad message (the stream goes on); a fatal error (a message with no end in
    sight, a frame over the limit, garbage where a frame must start) is raised instead.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.protobuf = False
        self._buf = bytearray()
        self._scan = 0

    def use_protobuf(self) -> None:
        self.protobuf = True

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Received | ProtocolError]:
        self._buf += data
        out: list[Received | ProtocolError] = []
        while self._buf:
            got = self._next()
            if got is None:
                break
            out.append(got)
        return out

    def _next(self) -> Received | ProtocolError | None:
        buf = self._buf
        start = 0
        while start < len(buf) and buf[start] in b" \t\r\n":
            start += 1
        if start:
            del buf[:start]
            self._scan = max(0, self._scan - start)
            if not buf:
                return None
        if buf[0] == STREAM_MAGIC:
            return self._frame()
        if self.protobuf:
            raise ProtocolError(msg("expected a TAK protocol frame (0xbf)"), fatal=True)
        end = buf.find(b"</event>", self._scan)
        if end < 0:
            if len(buf) > self.max_event_bytes:
                raise ProtocolError(
                    msg(
                        "no end of event within {max_event_bytes} bytes",
                        max_event_bytes=self.max_event_bytes,
                    ),
                    fatal=True,
                    size=len(buf),
                )
            self._scan = max(0, len(buf) - 7)
            return None
        chunk = bytes(buf[: end + 8])
        del buf[: end + 8]
        self._scan = 0
        try:
            return Received(parse_xml(chunk, self.max_event_bytes), chunk, "xml")
        except ProtocolError as exc:
            return exc

    def _frame(self) -> Received | ProtocolError | None:
        buf = self._buf
        if len(buf) >= 3 and buf[1] == 0x01 and buf[2] == STREAM_MAGIC:
            raise ProtocolError(msg("mesh framing on a stream connection"), fatal=True)
        got = decode_varint(buf, 1)
        if got is None:
            return None
        size, used = got
        if size > self.max_event_bytes:
            raise ProtocolError(
                msg(
                    "frame of {size} bytes exceeds {max_event_bytes}",
                    size=size,
                    max_event_bytes=self.max_event_bytes,
                ),
                fatal=True,
                size=size,
            )
        total = 1 + used + size
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        try:
            return Received(parse_proto(frame[1 + used :], self.max_event_bytes), frame, "proto")
        except ProtocolError as exc:
            return exc


def parse_datagram(data: bytes, max_bytes: int = MAX_EVENT_BYTES) -> Received:
    """One UDP mesh datagram: ``0xbf 0x01 0xbf`` + protobuf, or one XML event."""
    if data[:3] == b"\xbf\x01\xbf":
        return Received(parse_proto(data[3:], max_bytes), data, "proto")
    return Received(parse_xml(data.strip(), max_bytes), data, "xml")
