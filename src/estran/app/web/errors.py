"""The one place that maps domain errors to HTTP statuses and WebSocket close codes.

Every error response has one shape (pinned by ``tests/integration/test_error_shape.py``)::

    {"error": {"status": 422, "code": "validation_error", "title": "Données invalides",
               "message": "...", "details": [...]}}

``title`` says what went wrong in the reader's language (``Accept-Language``: ``fr`` or
``en``, else the signed-in principal's nation's, else English; ``Content-Language`` says
which), from the watch floor's own catalogue (``static/i18n.json``, ``error.<code>``);
``message`` gives the particulars in the same language: the gettext catalogue's French for
the template the error was raised with (``estran.i18n``), with its particulars.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from estran.domain.errors import (
    AuthenticationError,
    ConflictError,
    EstranError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ResumeError,
    SignInThrottledError,
    SlowConsumerError,
    StorageError,
    UnknownReferenceError,
)
from estran.domain.language import Language, account_language, from_accept_language
from estran.domain.messages import msg
from estran.i18n import translate, translate_tree

__all__ = [
    "WS_CLOSE",
    "error_response",
    "install_error_handlers",
    "localized",
    "reader_language",
    "status_for",
]

_STATUS: Final[list[tuple[type[EstranError], int]]] = [
    (SignInThrottledError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (UnknownReferenceError, 422),
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (StorageError, 503),
    (NotReadyError, 503),
]

WS_CLOSE: Final[dict[type[EstranError], int]] = {
    SlowConsumerError: 4008,
    ResumeError: 4400,
    AuthenticationError: 4401,
    PermissionDeniedError: 4403,
}
"""WebSocket close codes: 4008 slow consumer (resume with ``since``), 4400 bad request,
4401 not signed in, 4403 access refused or ended (an observer's attachment)."""


def status_for(exc: EstranError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


_CATALOGUE: Final = Path(__file__).parent / "static" / "i18n.json"


@cache
def _titles() -> dict[str, dict[str, str]]:
    data = json.loads(_CATALOGUE.read_text(encoding="utf-8"))
    return {
        lang: {k[6:]: v for k, v in table.items() if k.startswith("error.")}
        for lang, table in data.items()
    }


def reader_language(request: Request | None) -> Language:
    """The language an answer is written in: what the request accepts (French or English),
    else the signed-in account's own choice (as read with the account at sign-in: never by
    asking the database again, so an error answered while it is away does not wait for it),
    else its nation's, else English."""
    if request is None:
        return "en"
    chosen = from_accept_language(request.headers.get("accept-language"))
    if chosen is not None:
        return chosen
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return "en"
    svc = getattr(request.app.state, "services", None)
    kind, _, name = principal.id.partition(":")
    if kind in ("user", "service") and name and svc is not None:
        known: Language | None = svc.identity.known_language(name)
        if known is not None:
            return known
    return account_language(None, principal.nation)


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request: Request | None = None,
) -> Response:
    lang = reader_language(request)
    titles = _titles()
    title = titles[lang].get(code) or titles["en"].get(code) or titles[lang]["estran_error"]
    message = translate(message, lang)
    body = {"error": {"status": status, "code": code, "title": title, "message": message,
                      "details": details or []}}  # fmt: skip
    response = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    response.headers["Content-Language"] = lang
    return response


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EstranError)  # noqa: S101 (registered for EstranError only)
        if isinstance(exc, PermissionDeniedError):
            await _audit_refusal(request, exc)
        response = error_response(status_for(exc), exc.code, exc.message, exc.details, request)
        if isinstance(exc, SignInThrottledError):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        elif isinstance(exc, AuthenticationError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="estran"'
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(
            422, "validation_error", msg("request parameters are invalid"), details, request
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), request=request)

    app.add_exception_handler(EstranError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def localized(request: Request, value: Any) -> Any:
    """An answer with every message in it in the reader's language (``reader_language``)."""
    return translate_tree(value, reader_language(request))


async def _audit_refusal(request: Request, exc: PermissionDeniedError) -> None:
    """Every refusal of the policy goes to the audit trail before the answer leaves."""
    principal = getattr(request.state, "principal", None)
    svc = getattr(request.app.state, "services", None)
    if principal is None or svc is None:
        return
    await svc.audit.record(
        svc.audit.row(
            principal.id,
            exc.action,
            target=exc.target,
            allowed=False,
            rule=exc.rule,
            reason=exc.message,
            justification=request.headers.get("x-justification"),
            details={"method": request.method, "path": request.url.path},
        )
    )
