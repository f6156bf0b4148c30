"""Accounts and sessions: who is asking.

Passwords are hashed with Argon2id (argon2-cffi, RFC 9106 low-memory profile). A sign-in
gives an opaque bearer token (256 random bits); only its SHA-256 is stored, so a copy of the
database gives no usable token. Tokens expire; repeated failures lock the account for a while;
a disabled account or a reset password ends every session at once. Service accounts (sensors,
gateways) have no password: they get a long-lived key instead.

There is no default account and no default password anywhere: the first administrator is made
with ``estran users add``, and ``estran demo`` prints the throwaway accounts it makes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from estran.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    SignInThrottledError,
    StorageError,
)
from estran.domain.language import LANGUAGES, Language, account_language
from estran.domain.markings import Classification
from estran.domain.messages import msg
from estran.domain.policy import Principal, Role
from estran.domain.throttle import SignInThrottle
from estran.domain.timefmt import parse_stamp, stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.ports import SecurityStore

__all__ = ["MIN_PASSWORD_LENGTH", "Identity", "NewUser", "hash_token", "principal_of"]

MIN_PASSWORD_LENGTH: Final = 12
_BAD_CREDENTIALS: Final = "wrong username or password"
_CACHE_S: Final = 2.0
"""How long a checked token is trusted before the store is asked again (revocation delay)."""

_hasher = PasswordHasher()
_DUMMY_HASH: Final = _hasher.hash("estran-timing-equaliser")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: dict[str, Any]) -> Principal:
    sectors = user.get("sectors")
    return Principal(
        id=f"{'service' if user['service'] else 'user'}:{user['username']}",
        role=Role(user["role"]),
        agency_id=user["agency_id"],
        nation=user["nation"],
        clearance=Classification(user["clearance"]),
        sectors=None if not sectors else frozenset(orjson.loads(sectors)),
        attached_unit=user.get("attached_unit"),
        access_until=user.get("access_until"),
    )


@dataclass(frozen=True)
class NewUser:
    username: str
    role: Role
    agency_id: str
    nation: str
    clearance: Classification = Classification.OFFICIAL
    display_name: str = ""
    sectors: list[str] | None = None
    attached_unit: str | None = None
    access_until: str | None = None
    service: bool = False
    language: str | None = None

    def check(self) -> None:
        if not (1 <= len(self.username) <= 64) or not all(
            c.isalnum() or c in "._-" for c in self.username
        ):
            raise InvalidInputError(msg("a username is 1-64 letters, digits, '.', '_' or '-'"))
        if not (2 <= len(self.nation) <= 3 and self.nation.isalpha() and self.nation.isupper()):
            raise InvalidInputError(
                msg("nation {nation!r} is not an ISO 3166 code", nation=self.nation)
            )
        if self.role in (Role.SYSTEM, Role.PARTNER, Role.DEVICE, Role.ANONYMOUS):
            raise InvalidInputError(
                msg(
                    "the {role} role belongs to Estran itself, a partner centre or a TAK "
                    "connection, not to an account",
                    role=self.role,
                )
            )
        if self.role == Role.OBSERVER and (self.attached_unit is None or self.access_until is None):
            raise InvalidInputError(msg("an observer is attached to one unit until a given time"))
        if self.language is not None and self.language not in LANGUAGES:
            raise InvalidInputError(
                msg(
                    "language {language!r} is not one of {LANGUAGES}",
                    language=self.language,
                    LANGUAGES=LANGUAGES,
                )
            )
        if self.service != (self.role == Role.SERVICE):
            raise InvalidInputError(msg("service accounts, and only they, have the service role"))


@dataclass(frozen=True)
class Session:
    token: str
    principal: Principal
    expires_at: str


class Identity:
    """Sign-in, token checks and account changes, over a ``SecurityStore``."""

    def __init__(
        self,
        store: SecurityStore,
        *,
        now: Callable[[], datetime],
        session_ttl_s: float,
        max_failed_logins: int,
        lockout_s: float,
        service_key_days: float = 365.0,
    ) -> None:
        self.store = store
        self.now = now
        self.session_ttl_s = session_ttl_s
        self.max_failed_logins = max_failed_logins
        self.lockout_s = lockout_s
        self.throttle = SignInThrottle(per_name=max_failed_logins, base_s=lockout_s)
        self.service_key_days = service_key_days
        self._cache: dict[str, tuple[float, Principal, str]] = {}
        self._languages: dict[str, Language] = {}  # read with each account at sign-in

    # --- accounts -------------------------------------------------------------------------

    def add_user(self, new: NewUser, password: str | None) -> str | None:
        """Create an account; returns the service key for a service account (shown once)."""
        new.check()
        if not new.service:
            _check_password(password)
        at = stamp(self.now())
        self.store.add_user(
            {
                "username": new.username,
                "display_name": new.display_name or new.username,
                "role": new.role.value,
                "agency_id": new.agency_id,
                "nation": new.nation,
                "clearance": new.clearance.value,
                "sectors": None if new.sectors is None else orjson.dumps(new.sectors).decode(),
                "attached_unit": new.attached_unit,
                "access_until": new.access_until,
                "password_hash": None if new.service else _hasher.hash(password or ""),
                "service": new.service,
                "disabled": False,
                "failed_logins": 0,
                "locked_until": None,
                "created_at": at,
                "updated_at": at,
                "language": new.language,
            }
        )
        if new.service:
            return self.issue(new.username, kind="service_key").token
        return None

    def reset_password(self, username: str, password: str) -> None:
        _check_password(password)
        if not self.store.update_user(
            username,
            password_hash=_hasher.hash(password),
            failed_logins=0,
            locked_until=None,
            updated_at=stamp(self.now()),
        ):
            raise InvalidInputError(msg("no user {username!r}", username=username))
        self.store.revoke_sessions(username)
        self._cache.clear()

    def language_of(self, username: str) -> Language:
        """The language the account reads Estran in (its choice, else its nation's)."""
        user = self.store.get_user(username)
        if user is None:
            raise InvalidInputError(msg("no user {username!r}", username=username))
        return account_language(user.get("language"), user["nation"])

    def known_language(self, username: str) -> Language | None:
        """The account's language as last read with it (at authentication): no I/O, so an
        error answered while the database is away is not held up by asking it."""
        return self._languages.get(username)

    def set_language(self, username: str, language: str) -> None:
        if language not in LANGUAGES:
            raise InvalidInputError(
                msg(
                    "language {language!r} is not one of {LANGUAGES}",
                    language=language,
                    LANGUAGES=LANGUAGES,
                )
            )
        if not self.store.update_user(username, language=language, updated_at=stamp(self.now())):
            raise InvalidInputError(msg("no user {username!r}", username=username))
        self._languages[username] = language

    def set_disabled(self, username: str, disabled: bool) -> None:
        if not self.store.update_user(username, disabled=disabled, updated_at=stamp(self.now())):
            raise InvalidInputError(msg("no user {username!r}", username=username))
        if disabled:
            self.store.revoke_sessions(username)
        self._cache.clear()

    # --- sessions -------------------------------------------------------------------------

    def issue(self, username: str, *, kind: str = "session", token: str | None = None) -> Session:
        user = self.store.get_user(username)
        if user is None:
            raise InvalidInputError(msg("no user {username!r}", username=username))
        now = self.now()
        ttl = (
            timedelta(days=self.service_key_days)
            if kind == "service_key"
            else timedelta(seconds=self.session_ttl_s)
        )
        token = token or f"est_{secrets.token_urlsafe(32)}"
        expires = stamp(now + ttl)
        self.store.add_session(hash_token(token), username, kind, stamp(now), expires)
        return Session(token, principal_of(user), expires)

    def login(self, username: str, password: str, source: str = "unknown") -> Session:
        """A session for the right password; the same refusal for every wrong guess, known
        name or not. Failures are throttled per source and per (source, name), with back-off
        (``domain/throttle.py``): never a hard lock anyone could put on someone else."""
        now = self.now()
        verdict = self.throttle.begin(source, username[:64], now.timestamp())
        if not verdict.allowed:
            raise SignInThrottledError(
                msg(
                    "too many failed sign-ins from {source}: try again in {retry_after_s:.0f} s",
                    source=source,
                    retry_after_s=verdict.retry_after_s,
                ),
                retry_after_s=verdict.retry_after_s,
            )
        ok = False
        try:
            session = self._login(username, password)
            ok = True
            return session
        finally:
            self.throttle.end(source, username[:64], self.now().timestamp(), success=ok)

    def _login(self, username: str, password: str) -> Session:
        user = self.store.get_user(username) if len(username) <= 64 else None
        if user is None or user["service"] or user["password_hash"] is None:
            _verify(_DUMMY_HASH, password)  # the same work as for a real account
            raise AuthenticationError(_BAD_CREDENTIALS)
        if not _verify(user["password_hash"], password):
            raise AuthenticationError(_BAD_CREDENTIALS)
        if user["disabled"]:
            raise AuthenticationError(msg("this account is disabled"))
        if _hasher.check_needs_rehash(user["password_hash"]):
            self.store.update_user(username, password_hash=_hasher.hash(password))
        return self.issue(username)

    def logout(self, token: str) -> None:
        session = self.store.get_session(hash_token(token))
        if session is not None:
            self.store.revoke_sessions(session["username"], session["token_hash"])
        self._cache.pop(hash_token(token), None)

    def cached(self, token: str) -> Principal | None:
        """The principal of a recently checked, unexpired token, without touching the store
        (the event loop's fast path); None means: call ``authenticate``."""
        cached = self._cache.get(hash_token(token)) if token and len(token) <= 200 else None
        if cached is None or time.monotonic() - cached[0] >= _CACHE_S:
            return None
        if parse_stamp(cached[2]) <= self.now():
            return None
        return cached[1]

    def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for; refuses unknown, expired, revoked ones."""
        if not token or len(token) > 200:
            raise AuthenticationError(msg("no valid credentials"))
        digest = hash_token(token)
        now = self.now()
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_S:
            if parse_stamp(cached[2]) <= now:
                raise AuthenticationError(msg("the session has expired: sign in again"))
            return cached[1]
        try:
            session = self.store.get_session(digest)
        except StorageError:
            # The database is unreachable: a session checked before keeps reading the picture
            # held in memory (until it expires); a write fails on its own with 503.
            if cached is not None and parse_stamp(cached[2]) > now:
                return cached[1]
            raise
        if session is None or session["revoked"]:
            raise AuthenticationError(msg("no valid credentials"))
        if parse_stamp(session["expires_at"]) <= now:
            raise AuthenticationError(msg("the session has expired: sign in again"))
        user = self.store.get_user(session["username"])
        if user is None or user["disabled"]:
            raise AuthenticationError(msg("this account is disabled"))
        principal = principal_of(user)
        if len(self._cache) > 10_000:
            self._cache.clear()
            self._languages.clear()
        self._languages[user["username"]] = account_language(user.get("language"), user["nation"])
        self._cache[digest] = (time.monotonic(), principal, session["expires_at"])
        return principal


def _check_password(password: str | None) -> None:
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            msg(
                "a password has at least {MIN_PASSWORD_LENGTH} characters",
                MIN_PASSWORD_LENGTH=MIN_PASSWORD_LENGTH,
            )
        )
    if len(password) > 1024:
        raise InvalidInputError(msg("a password has at most 1024 characters"))


def _verify(hashed: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(hashed, password[:1024]))
    except (VerificationError, InvalidHashError):
        return False
