"""Accounts, sessions and the hash-chained audit trail, over a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from estran.adapters.clock import FixedClock
from estran.adapters.security_store import SecurityStore
from estran.domain.errors import AuthenticationError, InvalidInputError, SignInThrottledError
from estran.domain.markings import Classification
from estran.domain.policy import Role
from estran.services.audit import AuditTrail, verify
from estran.services.identity import Identity, NewUser, hash_token

PASSWORD = "a long enough password"  # noqa: S105 (a test account)


def night() -> FixedClock:
    return FixedClock(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))


@pytest.fixture
def world(tmp_path: Path):
    store = SecurityStore.for_data_dir(tmp_path)
    clock = night()
    identity = Identity(
        store, now=clock.now, session_ttl_s=3600, max_failed_logins=3, lockout_s=600
    )
    identity.add_user(NewUser("amelie", Role.COMMANDER, "FR-GN", "FR"), PASSWORD)
    yield store, identity, clock
    store.close()


def test_passwords_are_stored_as_argon2id_and_only_the_right_one_signs_in(world):
    store, identity, _ = world
    stored = store.get_user("amelie")["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    session = identity.login("amelie", PASSWORD)
    assert identity.authenticate(session.token).id == "user:amelie"
    assert store.get_session(hash_token(session.token)) is not None
    assert store.get_session(session.token) is None  # the token itself is never stored


def test_a_wrong_password_and_an_unknown_user_get_the_same_refusal(world):
    _, identity, _ = world
    with pytest.raises(AuthenticationError) as wrong:
        identity.login("amelie", "not the password")
    with pytest.raises(AuthenticationError) as unknown:
        identity.login("nobody", "not the password")
    assert wrong.value.message == unknown.value.message == "wrong username or password"


def test_repeated_failures_hold_back_that_source_then_it_may_try_again(world):
    _store, identity, clock = world
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            identity.login("amelie", "guess", source="10.0.0.9")
    with pytest.raises(SignInThrottledError):
        identity.login("amelie", PASSWORD, source="10.0.0.9")  # even the right one, for now
    # The account is not locked: Amélie signs in from her own terminal meanwhile.
    assert identity.login("amelie", PASSWORD, source="10.0.0.1").principal.role == Role.COMMANDER
    clock.current += timedelta(seconds=601)
    assert identity.login("amelie", PASSWORD, source="10.0.0.9").principal.role == Role.COMMANDER


def test_expired_forged_revoked_and_disabled_tokens_are_refused(world):
    _, identity, clock = world
    session = identity.login("amelie", PASSWORD)
    with pytest.raises(AuthenticationError):
        identity.authenticate("est_" + "A" * 43)  # forged
    with pytest.raises(AuthenticationError):
        identity.authenticate(session.token[:-1] + ("A" if session.token[-1] != "A" else "B"))
    clock.current += timedelta(seconds=3601)
    with pytest.raises(AuthenticationError, match="expired"):
        identity.authenticate(session.token)
    fresh = identity.login("amelie", PASSWORD)
    identity.set_disabled("amelie", True)
    with pytest.raises(AuthenticationError):
        identity.authenticate(fresh.token)
    with pytest.raises(AuthenticationError, match="disabled"):
        identity.login("amelie", PASSWORD)
    identity.set_disabled("amelie", False)
    again = identity.login("amelie", PASSWORD)
    identity.reset_password("amelie", "another long password")
    with pytest.raises(AuthenticationError):
        identity.authenticate(again.token)  # a reset ends every session


def test_accounts_refuse_bad_shapes(world):
    _, identity, _ = world
    with pytest.raises(InvalidInputError, match="12 characters"):
        identity.add_user(NewUser("bob", Role.OPERATOR, "FR-GN", "FR"), "short")
    with pytest.raises(InvalidInputError, match="observer"):
        identity.add_user(NewUser("obs", Role.OBSERVER, "UK-BF", "GB"), PASSWORD)
    with pytest.raises(InvalidInputError, match="system"):
        identity.add_user(NewUser("sys", Role.SYSTEM, "FR-GN", "FR"), PASSWORD)
    with pytest.raises(InvalidInputError, match="username"):
        identity.add_user(NewUser("a b", Role.OPERATOR, "FR-GN", "FR"), PASSWORD)


def test_a_service_account_has_a_key_and_no_password(world):
    store, identity, _ = world
    key = identity.add_user(
        NewUser("drone-7", Role.SERVICE, "UK-BF", "GB", Classification.OFFICIAL, service=True),
        None,
    )
    assert key is not None
    assert identity.authenticate(key).id == "service:drone-7"
    with pytest.raises(AuthenticationError):
        identity.login("drone-7", "")
    assert store.get_user("drone-7")["password_hash"] is None


@pytest.fixture
def trail(tmp_path: Path):
    store = SecurityStore.for_data_dir(tmp_path)
    audit = AuditTrail(store, night().now)
    audit.write([audit.row(f"user:u{i}", "view", target=f"incident/i{i}") for i in range(10)])
    yield store, audit
    audit.close()
    store.close()


def test_an_intact_trail_verifies(trail):
    store, _ = trail
    result = verify(store)
    assert result.ok
    assert result.rows == 10


def test_editing_one_row_is_found(trail):
    store, _ = trail
    store.execute_raw("UPDATE audit SET actor = 'user:someone-else' WHERE seq = 4")
    result = verify(store)
    assert not result.ok
    assert result.problems == ["row 4 was edited after it was written"]


def test_deleting_a_row_is_found(trail):
    store, _ = trail
    store.execute_raw("DELETE FROM audit WHERE seq = 6")
    problems = verify(store).problems
    assert "rows 6..6 are missing (deleted)" in problems
    assert any("row 7 does not follow" in p for p in problems)


def test_reordering_rows_is_found(trail):
    store, _ = trail
    store.execute_raw("UPDATE audit SET seq = 100 WHERE seq = 3")
    store.execute_raw("UPDATE audit SET seq = 3 WHERE seq = 5")
    store.execute_raw("UPDATE audit SET seq = 5 WHERE seq = 100")
    assert not verify(store).ok


def test_cutting_the_tail_is_found(trail):
    store, _ = trail
    store.execute_raw("DELETE FROM audit WHERE seq >= 9")
    problems = verify(store).problems
    assert len(problems) == 1
    assert "cut off the end" in problems[0]


def test_a_rechained_forgery_still_fails_against_the_head(trail):
    """Rewriting a row *and* recomputing every later hash still leaves the head behind."""
    from estran.domain.audit import AuditRow, audit_hash

    store, _ = trail
    rows = list(store.read_audit())
    prev = rows[1].hash
    for row in rows[2:]:
        actor = "user:forger" if row.seq == 3 else row.actor
        forged = AuditRow(**{**row.as_dict(), "actor": actor, "prev_hash": prev})
        digest = audit_hash(forged, prev)
        store.execute_raw(
            "UPDATE audit SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            {"a": actor, "p": prev, "h": digest, "s": row.seq},
        )
        prev = digest
    assert not verify(store).ok
