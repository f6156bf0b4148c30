"""Sign-in and the principal behind every request.

``POST /api/v1/auth/login``   username and password -> a bearer token (and an HttpOnly,
                              SameSite=Strict cookie for the browser); audited, failed ones too
``POST /api/v1/auth/logout``  ends the session
``GET  /api/v1/auth/me``      who the token stands for, and what their role may do
``PUT  /api/v1/auth/me/language``  the account's language (``fr``, ``en``), kept with it

Every other route depends on ``authenticated``: ``Authorization: Bearer <token>`` or the
cookie; anything else is 401 and changes nothing. Routes read the principal with ``who``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, Literal

from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.app.web.common import JSONBytes, read_json, services
from estran.app.web.deps import AuditDep, IdentityDep, PolicyDep, SettingsDep
from estran.domain.commands import pydantic_details
from estran.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    ValidationFailedError,
)
from estran.domain.language import account_language
from estran.domain.messages import msg
from estran.domain.policy import Action, Policy, Principal, enforce

__all__ = [
    "COOKIE",
    "authenticated",
    "build_auth_router",
    "check_cookie_write",
    "justification",
    "require",
    "who",
]

COOKIE: Final = "estran_session"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _token(headers: Any, cookies: Any) -> str | None:
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(msg("the Authorization header must be 'Bearer <token>'"))
        return str(value.strip())
    cookie = cookies.get(COOKIE)
    return str(cookie) if cookie else None


async def resolve(app_services: Any, headers: Any, cookies: Any) -> Principal:
    token = _token(headers, cookies)
    if token is None:
        raise AuthenticationError(msg("sign in first: no bearer token or session cookie"))
    identity = app_services.identity
    fast: Principal | None = identity.cached(token)
    if fast is not None:
        return fast
    principal: Principal = await asyncio.to_thread(identity.authenticate, token)
    return principal


_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def check_cookie_write(request: Request) -> None:
    """A write authenticated by the session cookie alone must come from the watch floor's own
    origin, as JSON: a page on another origin (another local port included) cannot make the
    operator's browser write in their name. Bearer-token clients are not affected: no
    browser attaches a bearer token by itself."""
    if request.method in _SAFE_METHODS or request.headers.get("authorization"):
        return
    if not request.cookies.get(COOKIE):
        return
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is None or origin.split("://", 1)[-1].rstrip("/") != host:
        raise PermissionDeniedError(
            msg(
                "a cookie-authenticated write must come from this server's own page "
                "(Origin {origin} is not {host})",
                origin=origin or "missing",
                host=host,
            ),
            rule="origin",
            action="write",
        )
    has_body = request.headers.get("content-length", "0") not in ("", "0")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if has_body and kind != "application/json":
        raise PermissionDeniedError(
            msg(
                "a cookie-authenticated write is sent as application/json, not {kind}",
                kind=kind or "nothing",
            ),
            rule="origin",
            action="write",
        )


async def authenticated(request: Request) -> Principal:
    """Router dependency: establishes ``request.state.principal`` or refuses with 401; a
    cookie-authenticated write from another origin is refused (403)."""
    principal = await resolve(services(request), request.headers, request.cookies)
    request.state.principal = principal
    check_cookie_write(request)
    return principal


async def authenticated_ws(ws: WebSocket) -> Principal:
    return await resolve(ws.app.state.services, ws.headers, ws.cookies)


def who(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def require(
    request: Request,
    action: Action,
    record: dict[str, Any] | None = None,
    *,
    why: str | None = None,
) -> None:
    """Raise (403, audited by the error handler) unless the policy allows ``action``."""
    enforce(services(request).access.decide(who(request), action, record=record, justification=why))


def justification(request: Request) -> str | None:
    """The justification of a sensitive request: the ``X-Justification`` header."""
    text = request.headers.get("x-justification")
    return text.strip()[:1000] if text and text.strip() else None


def build_auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @router.post("/login", summary="Sign in: a bearer token (and session cookie)")
    async def login(
        request: Request,
        identity: IdentityDep,
        audit: AuditDep,
        policy: PolicyDep,
        settings: SettingsDep,
    ) -> JSONBytes:
        try:
            body = LoginIn.model_validate(await read_json(request))
        except ValidationError as exc:
            raise ValidationFailedError(
                msg("username and password expected"), details=pydantic_details(exc)
            ) from exc
        client = request.client.host if request.client else "unknown"
        try:
            session = await asyncio.to_thread(identity.login, body.username, body.password, client)
        except AuthenticationError as exc:
            await audit.record(
                audit.row(
                    f"user:{body.username}",
                    "login",
                    allowed=False,
                    rule=exc.code,
                    reason=exc.message,
                    details={"client": client},
                )
            )
            raise
        await audit.record(audit.row(session.principal.id, "login", details={"client": client}))
        me = _me(policy, session.principal)
        response = JSONBytes({"token": session.token, "expires_at": session.expires_at, **me})
        response.set_cookie(
            COOKIE,
            session.token,
            max_age=int(settings.session_ttl_s),
            httponly=True,
            samesite="strict",
            secure=settings.environment == "production",
            path="/",
        )
        return response

    @router.post("/logout", summary="End this session")
    async def logout(request: Request, identity: IdentityDep, audit: AuditDep) -> JSONBytes:
        principal = await authenticated(request)
        token = _token(request.headers, request.cookies)
        if token is not None:
            await asyncio.to_thread(identity.logout, token)
        await audit.record(audit.row(principal.id, "logout"))
        response = JSONBytes({"signed_out": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/me", summary="Who I am and what my role may do")
    async def me(request: Request, policy: PolicyDep, identity: IdentityDep) -> JSONBytes:
        principal = await authenticated(request)
        return JSONBytes(
            {**_me(policy, principal), "language": await _language_of(identity, principal)}
        )

    @router.put("/me/language", summary="Choose my language (French or English)")
    async def set_language(request: Request, identity: IdentityDep, audit: AuditDep) -> JSONBytes:
        principal = await authenticated(request)
        try:
            body = LanguageIn.model_validate(await read_json(request))
        except ValidationError as exc:
            raise ValidationFailedError(
                msg("invalid language"), details=pydantic_details(exc)
            ) from exc
        name = _username(principal)
        if name is None:
            raise ValidationFailedError(msg("only a person's account has a language"))
        await asyncio.to_thread(identity.set_language, name, body.language)
        await audit.record(audit.row(principal.id, "set_language", reason=body.language))
        return JSONBytes({"language": body.language})

    return router


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["fr", "en"]


def _username(principal: Principal) -> str | None:
    kind, _, name = principal.id.partition(":")
    return name if kind in ("user", "service") and name else None


async def _language_of(identity: Any, principal: Principal) -> str:
    name = _username(principal)
    if name is None:
        return account_language(None, principal.nation)
    try:
        language: str = await asyncio.to_thread(identity.language_of, name)
    except InvalidInputError:
        return account_language(None, principal.nation)
    return language


def _me(policy: Policy, principal: Principal) -> dict[str, Any]:
    rules = policy.roles[principal.role]
    return {
        "principal": principal.id,
        "role": principal.role.value,
        "agency_id": principal.agency_id,
        "nation": principal.nation,
        "clearance": principal.clearance.value,
        "attached_unit": principal.attached_unit,
        "access_until": principal.access_until,
        "sectors": None if principal.sectors is None else sorted(principal.sectors),
        "actions": sorted(a.value for a in rules.actions),
        "may_create": sorted(rules.create),
        "may_update": sorted(rules.update),
    }
