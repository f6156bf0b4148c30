"""``estran users add|list|disable|enable|reset``, ``estran audit verify|show``, ``estran purge``.

These work on the data directory (or PostgreSQL) directly, as an administrator on the server
host does; every change they make is written to the audit trail as ``cli:<os user>``.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from estran.bootstrap import admin_kit, agency_nation
from estran.cli.options import settings_from, store_options
from estran.cli.output import echo
from estran.domain.errors import EstranError
from estran.domain.markings import Classification
from estran.domain.messages import msg
from estran.domain.policy import Role
from estran.domain.timefmt import parse_stamp, stamp
from estran.services.audit import AuditTrail, verify
from estran.services.identity import Identity, NewUser

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from estran.ports import SecurityStore

__all__ = ["audit", "purge", "users"]


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no login name (a container)
        return "cli:unknown"


@dataclass
class _Admin:
    """The security store opened for one command, and how it notes what it did."""

    store: SecurityStore
    identity: Identity
    trail: AuditTrail

    def note(self, action: str, username: str, **details: Any) -> None:
        """Write the account change to the audit trail, as ``cli:<os user>``."""
        self.trail.write(
            [self.trail.row(_who(), action, target=f"user/{username}", details=details)]
        )


@contextmanager
def _admin(data_dir: Path | None, database_url: str | None) -> Iterator[_Admin]:
    """Open the accounts and audit trail; refusals become clean CLI errors; always closed."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    try:
        with admin_kit(settings) as kit:
            yield _Admin(kit.store, kit.identity, kit.trail)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def users() -> None:
    """Accounts: there is no default one; the first administrator is made here."""


@users.command("add")
@store_options
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role if r not in (Role.SYSTEM, Role.PARTNER)]),
    required=True,
)
@click.option("--agency", "agency_id", required=True, help="Agency id, e.g. FR-GN or UK-BF.")
@click.option("--nation", default=None, help="ISO 3166 code; known agencies imply it.")
@click.option(
    "--clearance",
    type=click.Choice([c.value for c in Classification]),
    default=Classification.OFFICIAL.value,
    show_default=True,
)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--sector", "sectors", multiple=True, help="Restrict actions to these sectors.")
@click.option("--unit", "attached_unit", default=None, help="Observer: the unit ridden with.")
@click.option("--until", "access_until", default=None, help="Observer: access ends (ISO 8601).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--language",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="The watch floor's language for this account (default: its nation's).",
)
def add_cmd(
    data_dir: Path | None,
    database_url: str | None,
    username: str,
    role: str,
    agency_id: str,
    nation: str | None,
    clearance: str,
    display_name: str,
    sectors: tuple[str, ...],
    attached_unit: str | None,
    access_until: str | None,
    password_stdin: bool,
    language: str | None,
) -> None:
    """Create an account (a service account prints its key once)."""
    nation = nation or agency_nation(agency_id)
    if nation is None:
        raise click.UsageError(
            msg("agency {agency_id} is not a known one: give --nation", agency_id=agency_id)
        )
    until = None
    if access_until is not None:
        try:
            until = stamp(parse_stamp(access_until))
        except ValueError as exc:
            raise click.UsageError(msg("--until: {exc}", exc=exc)) from exc
    new = NewUser(
        username,
        Role(role),
        agency_id,
        nation.upper(),
        Classification(clearance),
        display_name=display_name,
        sectors=list(sectors) or None,
        attached_unit=attached_unit,
        access_until=until,
        service=role == Role.SERVICE.value,
        language=language,
    )
    with _admin(data_dir, database_url) as admin:
        key = admin.identity.add_user(new, None if new.service else _password(password_stdin))
        admin.note("user_add", username, role=role, agency=agency_id, nation=nation)
    echo(
        msg(
            "user {username} added ({role}, {agency_id}, {nation})",
            username=username,
            role=role,
            agency_id=agency_id,
            nation=nation,
        )
    )
    if key is not None:
        echo(msg("service key (shown once): {key}", key=key))


@users.command("list")
@store_options
def list_cmd(data_dir: Path | None, database_url: str | None) -> None:
    """Every account, its role and state (never a password or key)."""
    with _admin(data_dir, database_url) as admin:
        rows = admin.store.list_users()
    for u in rows:
        state = "disabled" if u["disabled"] else "locked" if u["locked_until"] else "active"
        extra = (
            f" unit={u['attached_unit']} until={u['access_until']}" if u["attached_unit"] else ""
        )
        echo(
            f"{u['username']:<20} {u['role']:<15} {u['agency_id']:<14} {u['nation']:<3} "
            f"{u['clearance']:<20} {state}{extra}"
        )


def _set_state(data_dir: Path | None, database_url: str | None, username: str, off: bool) -> None:
    with _admin(data_dir, database_url) as admin:
        admin.identity.set_disabled(username, off)
        admin.note("user_disable" if off else "user_enable", username)


@users.command("disable")
@store_options
@click.argument("username")
def disable_cmd(data_dir: Path | None, database_url: str | None, username: str) -> None:
    """Disable an account: its sessions end at once."""
    _set_state(data_dir, database_url, username, True)
    echo(msg("user {username} disabled; its sessions are ended", username=username))


@users.command("enable")
@store_options
@click.argument("username")
def enable_cmd(data_dir: Path | None, database_url: str | None, username: str) -> None:
    """Enable a disabled account."""
    _set_state(data_dir, database_url, username, False)
    echo(msg("user {username} enabled", username=username))


@users.command("reset")
@store_options
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def reset_cmd(
    data_dir: Path | None, database_url: str | None, username: str, password_stdin: bool
) -> None:
    """Set a new password, clear a lock-out and end every session of the account."""
    with _admin(data_dir, database_url) as admin:
        admin.identity.reset_password(username, _password(password_stdin))
        admin.note("user_reset", username)
    echo(msg("password of {username} reset; its sessions are ended", username=username))


@click.group()
def audit() -> None:
    """The audit trail: verify its hash chain, or show its rows."""


@audit.command("verify")
@store_options
@click.option(
    "--anchor",
    default=None,
    metavar="SEQ:HASH",
    help="A head kept outside the database (a handover's audit_head): the chain must hold it.",
)
def verify_cmd(data_dir: Path | None, database_url: str | None, anchor: str | None) -> None:
    """Check every row's hash and link, and the head kept outside the database (the anchor
    file beside it, or --anchor); exit 1 naming each break found."""
    given = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise click.BadParameter(
                msg("SEQ:HASH, as a handover prints it"), param_hint="--anchor"
            )
        given = (int(seq), digest)
    with _admin(data_dir, database_url) as admin:
        result = verify(admin.store, given)
    if result.ok:
        echo(msg("audit trail intact: {rows} rows, chain and head agree", rows=result.rows))
        return
    for problem in result.problems:
        echo(msg("BROKEN: {problem}", problem=problem), err=True)
    raise SystemExit(1)


@audit.command("show")
@store_options
@click.option("--after", type=int, default=0)
@click.option("--limit", type=int, default=100)
def show_cmd(data_dir: Path | None, database_url: str | None, after: int, limit: int) -> None:
    """Print rows of the trail in order."""
    with _admin(data_dir, database_url) as admin:
        for r in admin.store.read_audit(after, limit):
            verdict = "allowed" if r.allowed else f"DENIED ({r.rule})"
            why = f" why={r.justification!r}" if r.justification else ""
            echo(f"{r.seq:>7} {r.at} {r.actor} {r.action} {r.target or '-'} {verdict}{why}")


@click.command()
@store_options
@click.option("--justification", required=True, help="Why now (kept in the audit trail).")
def purge(data_dir: Path | None, database_url: str | None, justification: str) -> None:
    """Run the retention purge now (the server also runs it on a schedule)."""
    from estran.bootstrap import build_services

    settings = settings_from(
        data_dir=data_dir,
        database_url=database_url,
        terrain="off",
        cot_tcp_port=None,
        cot_tls_port=None,
        fusion=False,
        recommend=False,
        purge_interval_s=0,
    )

    async def run() -> dict[str, Any]:
        svc = build_services(settings)
        await svc.ledger.start()
        try:
            return await svc.retention.run_once(actor=_who(), justification=justification)
        finally:
            await svc.ledger.stop()
            svc.audit.close()
            svc.security.close()
            svc.store.close()

    result = asyncio.run(run())
    removed = result["removed"]
    total = sum(removed.values())
    echo(f"purged {total} records" + (f": {removed}" if removed else ""))
