"""The one exception tree of Estran.

    EstranError
    ├── InvalidInputError (ValueError)        bad input: nothing is written
    │   ├── ValidationFailedError             a record or command breaks its schema
    │   ├── FutureTimeError                   an observation time too far ahead of the clock
    │   ├── TimeOutOfRangeError               a time outside the sane window (before 2000...)
    │   ├── ProtocolError                     a CoT message (or stream) that breaks the protocol
    │   ├── OutsideAreaError                  a location off the terrain of the area of interest
    │   └── UnreachableLocationError          a location no unit can stand on, nothing near
    ├── NotFoundError (LookupError)           an id that does not exist
    │   └── UnknownReferenceError             a record refers to an id that does not exist
    ├── ConflictError                         the command contradicts the current picture
    │   ├── AlreadyExistsError                a create for an id already in use
    │   ├── LifeAtSeaError (domain/rescue.py) a command that would suppress or pre-empt a rescue
    │   └── InvalidTransitionError            a status change the lifecycle forbids
    ├── PayloadTooLargeError                  a body or batch over its limit
    ├── NotReadyError                         a capability still being prepared (terrain)
    ├── AuthenticationError                   no, wrong, expired or forged credentials (401)
    │   └── SignInThrottledError              too many failed sign-ins from a source: back off
    ├── PermissionDeniedError                 the policy refuses the action (403, audited)
    │   └── JustificationRequiredError        a sensitive action without its justification
    ├── StreamError
    │   ├── SlowConsumerError                 a subscriber fell too far behind
    │   └── ResumeError                       a resume point the server cannot serve
    └── StorageError (OSError)                the event store failed; the write was not acknowledged
        └── SchemaVersionError                a data directory newer than this Estran

Errors carry fields, not just text; ``app/web/errors.py`` maps them to HTTP and
WebSocket close codes and nothing else does.
"""

from __future__ import annotations

from typing import Any

from estran.domain.messages import msg

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConflictError",
    "EstranError",
    "FutureTimeError",
    "InvalidInputError",
    "InvalidTransitionError",
    "JustificationRequiredError",
    "NotFoundError",
    "NotReadyError",
    "OutsideAreaError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "ResumeError",
    "SchemaVersionError",
    "SignInThrottledError",
    "SlowConsumerError",
    "StorageError",
    "StreamError",
    "TimeOutOfRangeError",
    "UnknownReferenceError",
    "UnreachableLocationError",
    "ValidationFailedError",
]


class EstranError(Exception):
    """Root of every error Estran raises on purpose."""

    code = "estran_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInputError(EstranError, ValueError):
    code = "invalid_input"


class ValidationFailedError(InvalidInputError):
    code = "validation_error"


class FutureTimeError(InvalidInputError):
    code = "time_in_future"

    def __init__(self, message: str, *, observed_at: str, limit_s: float) -> None:
        super().__init__(message, details=[{"observed_at": observed_at, "max_skew_s": limit_s}])
        self.observed_at = observed_at
        self.limit_s = limit_s


class TimeOutOfRangeError(InvalidInputError):
    """A time outside the window Estran accepts (2000-01-01 to the clock plus its skew, or to
    2200 for a retention date)."""

    code = "time_out_of_range"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, details=[{"loc": [field], "msg": message, "type": self.code}])
        self.field = field


class ProtocolError(InvalidInputError):
    """A CoT message that breaks the protocol. ``fatal``: the stream cannot go on."""

    code = "protocol_error"

    def __init__(self, message: str, *, fatal: bool = False, size: int | None = None) -> None:
        super().__init__(message, details=[{"fatal": fatal, "size": size}])
        self.fatal = fatal
        self.size = size


class OutsideAreaError(InvalidInputError):
    code = "outside_area"

    def __init__(self, lat: float, lon: float, area: str, hint: str = "") -> None:
        super().__init__(
            msg(
                "({lat:.5f}, {lon:.5f}) is outside the area of interest {area!r}{hint}",
                lat=lat,
                lon=lon,
                area=area,
                hint=hint,
            ),
            details=[{"lat": lat, "lon": lon, "area": area}],
        )
        self.lat = lat
        self.lon = lon


class UnreachableLocationError(InvalidInputError):
    code = "unreachable_location"

    def __init__(self, lat: float, lon: float, terrain: str, search_m: float) -> None:
        super().__init__(
            msg(
                "({lat:.5f}, {lon:.5f}) is {terrain}, and no ground a unit can reach lies within "
                "{search_m:.0f} m",
                lat=lat,
                lon=lon,
                terrain=terrain,
                search_m=search_m,
            ),
            details=[{"lat": lat, "lon": lon, "terrain": terrain, "search_m": search_m}],
        )
        self.terrain = terrain
        self.search_m = search_m


class NotFoundError(EstranError, LookupError):
    code = "not_found"

    def __init__(self, kind: str, entity_id: str, message: str | None = None) -> None:
        super().__init__(message or msg("no {kind} with id {id!r}", kind=kind, id=entity_id))
        self.kind = kind
        self.entity_id = entity_id
        self.details = [{"kind": kind, "id": entity_id}]


class UnknownReferenceError(NotFoundError):
    code = "unknown_reference"

    def __init__(self, kind: str, entity_id: str, field: str) -> None:
        super().__init__(
            kind,
            entity_id,
            msg("{field} refers to unknown {kind} {id!r}", field=field, kind=kind, id=entity_id),
        )
        self.field = field
        self.details = [{"kind": kind, "id": entity_id, "field": field}]


class ConflictError(EstranError):
    code = "conflict"


class AlreadyExistsError(ConflictError):
    code = "already_exists"

    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(msg("{kind} {id!r} already exists", kind=kind, id=entity_id))
        self.kind = kind
        self.entity_id = entity_id
        self.details = [{"kind": kind, "id": entity_id}]


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"

    def __init__(self, kind: str, entity_id: str, field: str, old: str, new: str) -> None:
        super().__init__(
            msg(
                "{kind} {id!r}: {field} cannot go from {old!r} to {new!r}",
                kind=kind,
                id=entity_id,
                field=field,
                old=old,
                new=new,
            )
        )
        self.kind = kind
        self.entity_id = entity_id
        self.old = old
        self.new = new
        self.details = [{"kind": kind, "id": entity_id, "field": field, "from": old, "to": new}]


class PayloadTooLargeError(EstranError):
    code = "payload_too_large"

    def __init__(self, message: str, *, limit: int, actual: int | None = None) -> None:
        super().__init__(message, details=[{"limit": limit, "actual": actual}])
        self.limit = limit
        self.actual = actual


class NotReadyError(EstranError):
    code = "not_ready"

    def __init__(self, what: str, *, progress: float, elapsed_s: float) -> None:
        super().__init__(
            msg(
                "{what} is being prepared ({progress:.0%} after {elapsed_s:.0f} s); retry shortly",
                what=what,
                progress=progress,
                elapsed_s=elapsed_s,
            ),
            details=[{"what": what, "progress": progress, "elapsed_s": elapsed_s}],
        )
        self.progress = progress


class AuthenticationError(EstranError):
    """Who is asking is not established: the same message for every cause that could leak
    whether an account exists (unknown name, wrong password)."""

    code = "unauthenticated"


class SignInThrottledError(AuthenticationError):
    """Too many failed sign-ins from one source (for one name, or in all): wait and retry."""

    code = "sign_in_throttled"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, details=[{"retry_after_s": round(retry_after_s, 1)}])
        self.retry_after_s = retry_after_s


class PermissionDeniedError(EstranError):
    """The policy refused: ``rule`` names the rule that decided (``docs/security.md``)."""

    code = "forbidden"

    def __init__(self, message: str, *, rule: str, action: str, target: str | None = None) -> None:
        super().__init__(message, details=[{"rule": rule, "action": action}])
        self.rule = rule
        self.action = action
        self.target = target


class JustificationRequiredError(PermissionDeniedError):
    code = "justification_required"


class StreamError(EstranError):
    code = "stream_error"


class SlowConsumerError(StreamError):
    code = "slow_consumer"

    def __init__(self, *, pending_messages: int, pending_bytes: int, last_seq: int) -> None:
        super().__init__(
            msg(
                "slow consumer: {pending_messages} messages ({pending_bytes} bytes) pending; "
                "reconnect with since={last_seq}",
                pending_messages=pending_messages,
                pending_bytes=pending_bytes,
                last_seq=last_seq,
            )
        )
        self.pending_messages = pending_messages
        self.pending_bytes = pending_bytes
        self.last_seq = last_seq


class ResumeError(StreamError):
    code = "bad_resume_point"

    def __init__(self, since: int, head: int) -> None:
        super().__init__(
            msg("cannot resume after seq {since}: the log ends at {head}", since=since, head=head)
        )
        self.since = since
        self.head = head


class StorageError(EstranError, OSError):
    code = "storage_error"


class BehindError(StorageError):
    """The shared log moved on since the writer last read it (another node committed first):
    nothing was written; catch up to ``head`` and decide again."""

    code = "storage_error"

    def __init__(self, head: int, expected: int) -> None:
        super().__init__(
            msg(
                "the log is at seq {head}, not {expected}: another node wrote first",
                head=head,
                expected=expected,
            )
        )
        self.head = head
        self.expected = expected


class SchemaVersionError(StorageError):
    code = "schema_version"

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            msg(
                "the data store is at schema version {found}; this Estran knows up to {supported}",
                found=found,
                supported=supported,
            )
        )
        self.found = found
        self.supported = supported
