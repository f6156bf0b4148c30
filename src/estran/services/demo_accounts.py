"""Throwaway accounts for ``estran demo``: one per role, fresh random passwords every start.

Nothing here is a default credential: each start draws new passwords (and ends the old
sessions); the demo prints them once, on its own terminal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from estran.domain.markings import Classification
from estran.domain.policy import Role
from estran.domain.timefmt import stamp
from estran.services.identity import NewUser

if TYPE_CHECKING:
    from estran.services.identity import Identity

__all__ = ["DemoAccount", "make_demo_accounts"]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    agency_id: str
    note: str


def make_demo_accounts(identity: Identity, observed_unit: str | None) -> list[DemoAccount]:
    """Create (or re-key) the demo accounts; returns them with their new passwords."""
    until = stamp(identity.now() + timedelta(hours=8))
    specs = [
        (
            NewUser(
                "demo-commander", Role.COMMANDER, "FR-GN", "FR", Classification.DIFFUSION_RESTREINTE
            ),
            "tasks gendarmerie units",
        ),
        (
            NewUser(
                "demo-operator", Role.OPERATOR, "FR-GN", "FR", Classification.OFFICIAL_SENSITIVE
            ),
            "incidents, proposals, the logs",
        ),
        (
            NewUser("demo-liaison", Role.LIAISON, "UK-BF", "GB", Classification.OFFICIAL_SENSITIVE),
            "sees what is released to GB; never tasks",
        ),
        (
            NewUser(
                "demo-rescue", Role.RESCUE_LIAISON, "UK-MRCC-DOVER", "GB", Classification.OFFICIAL
            ),
            "every rescue case; acknowledges MRCC Dover's",
        ),
        (
            NewUser("demo-analyst", Role.ANALYST, "FR-GN", "FR", Classification.OFFICIAL),
            "figures and replay",
        ),
        (
            NewUser("demo-auditor", Role.AUDITOR, "FR-GN", "FR", Classification.OFFICIAL),
            "the audit trail only",
        ),
        (
            NewUser("demo-admin", Role.ADMIN, "FR-GN", "FR", Classification.OFFICIAL),
            "accounts and the retention purge",
        ),
    ]
    if observed_unit is not None:
        specs.append(
            (
                NewUser(
                    "demo-observer",
                    Role.OBSERVER,
                    "UK-BF",
                    "GB",
                    Classification.OFFICIAL,
                    attached_unit=observed_unit,
                    access_until=until,
                ),
                f"rides with {observed_unit} until {until}",
            )
        )
    out = []
    for new, note in specs:
        password = secrets.token_urlsafe(12)
        existing = identity.store.get_user(new.username)
        if existing is None:
            identity.add_user(new, password)
        else:
            identity.reset_password(new.username, password)
            identity.set_disabled(new.username, False)
            if new.access_until is not None:
                identity.store.update_user(new.username, access_until=new.access_until)
        out.append(DemoAccount(new.username, password, new.role.value, new.agency_id, note))
    return out
