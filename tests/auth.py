"""Accounts for tests: made in the server's data directory before it starts.

Tests sign in as a French gendarmerie commander unless they say otherwise; the token is
fixed per test account so helpers can send it without a sign-in round trip (a test-only
shortcut: the product has no fixed or default credential anywhere).
"""

from __future__ import annotations

from typing import Any

from estran.adapters.clock import SystemClock
from estran.bootstrap import open_identity, open_security_store
from estran.config import Settings
from estran.domain.markings import Classification
from estran.domain.policy import Role
from estran.services.identity import NewUser, hash_token

TOKEN = "est_test-commander-token"  # noqa: S105 (a test account in a temporary directory)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "correct horse battery"  # noqa: S105 (test accounts only)


def seed_user(
    settings: Settings,
    username: str = "test-commander",
    *,
    role: Role = Role.COMMANDER,
    agency_id: str = "FR-GN",
    nation: str = "FR",
    clearance: Classification = Classification.DIFFUSION_RESTREINTE,
    token: str | None = TOKEN,
    **extra: Any,
) -> dict[str, str]:
    """Create ``username`` (if new) and a session ``token``; returns its auth header."""
    store = open_security_store(settings)
    try:
        identity = open_identity(settings, store, SystemClock())
        if store.get_user(username) is None:
            service = role == Role.SERVICE
            identity.add_user(
                NewUser(
                    username,
                    role,
                    agency_id,
                    nation,
                    clearance,
                    service=service,
                    **extra,
                ),
                None if service else PASSWORD,
            )
        if token is not None and store.get_session(hash_token(token)) is not None:
            return bearer(token)  # a restarted server: the account and session are there
        session = identity.issue(username, token=token)
    finally:
        store.close()
    return bearer(session.token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed_liaison(settings: Settings) -> dict[str, str]:
    """The British liaison officer of the tests (UK Border Force, OFFICIAL-SENSITIVE)."""
    return seed_user(
        settings,
        "liz",
        role=Role.LIAISON,
        agency_id="UK-BF",
        nation="GB",
        clearance=Classification.OFFICIAL_SENSITIVE,
        token="est_liaison-token",  # noqa: S106 (a test account)
    )
