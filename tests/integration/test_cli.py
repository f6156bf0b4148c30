from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from estran.adapters.storage.sqlite import SqliteEventStore
from estran.bootstrap import rebuild
from estran.cli.main import cli
from estran.domain.events import Event
from estran.domain.timefmt import stamp


def _seed(data: Path) -> list[Event]:
    """A small log written straight into a store: agency, unit, then the unit moves."""
    t0 = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    marking = {
        "classification": "OFFICIAL",
        "releasable_to": ["FR"],
        "purpose": "border_surveillance",
        "personal_data": False,
        "retain_until": None,
    }
    rows: list[tuple[str, str, dict]] = [
        ("agency.created", "FR-GN", {"name": "GN", "nation": "FR", "kind": "gendarmerie"}),
        (
            "unit.created",
            "u1",
            {
                "callsign": "ALPHA",
                "kind": "dune_buggy",
                "agency_id": "FR-GN",
                "status": "available",
                "position": None,
            },
        ),
        ("unit.updated", "u1", {"status": "on_scene"}),
    ]
    events = [
        Event(
            0,
            f"seed-event-{i}",
            t,
            t.split(".")[0],
            eid,
            stamp(t0 + timedelta(minutes=10 * i)),
            stamp(t0 + timedelta(minutes=10 * i)),
            "test",
            "cli-test",
            marking,
            d,
        )
        for i, (t, eid, d) in enumerate(rows)
    ]
    store = SqliteEventStore(data / "events.sqlite3")
    stored = store.append(events)
    store.close()
    return stored


@pytest.mark.parametrize(
    "args", [[], ["serve"], ["events"], ["events", "export"], ["events", "import"], ["replay"]]
)
def test_every_command_has_help(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_export_then_import_into_a_fresh_store_gives_the_same_picture(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _seed(src)
    out = tmp_path / "log.jsonl"
    runner = CliRunner()
    exported = runner.invoke(cli, ["events", "export", "--data", str(src), "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().splitlines()) == 3
    imported = runner.invoke(cli, ["events", "import", "--data", str(dst), str(out)])
    assert imported.exit_code == 0, imported.output
    assert "imported 3 events" in imported.output
    again = runner.invoke(cli, ["events", "import", "--data", str(dst), str(out)])
    assert "imported 0 events, skipped 3" in again.output
    a = SqliteEventStore(src / "events.sqlite3")
    b = SqliteEventStore(dst / "events.sqlite3")
    assert rebuild(a).records == rebuild(b).records
    a.close()
    b.close()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: malformed JSON"),
        ('{"seq": 1}', "line 2: not an event"),
    ],
)
def test_a_bad_import_file_names_the_line_and_writes_nothing(tmp_path, line, message):
    src = tmp_path / "src"
    events = _seed(src)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(events[0].to_json() + b"\n" + line.encode() + b"\n")
    result = CliRunner().invoke(
        cli, ["events", "import", "--data", str(tmp_path / "dst"), str(bad)]
    )
    assert result.exit_code != 0
    assert message in result.output
    store = SqliteEventStore(tmp_path / "dst" / "events.sqlite3")
    assert store.last_seq() == 0
    store.close()


def test_an_import_that_refers_to_an_unknown_record_is_refused_whole(tmp_path):
    events = _seed(tmp_path / "src")
    orphan = tmp_path / "orphan.jsonl"
    orphan.write_bytes(events[1].to_json() + b"\n")  # the unit, without its agency
    result = CliRunner().invoke(
        cli, ["events", "import", "--data", str(tmp_path / "dst"), str(orphan)]
    )
    assert result.exit_code != 0
    assert "unknown agency 'FR-GN'" in result.output


def test_replay_prints_the_picture_as_it_was(tmp_path):
    _seed(tmp_path / "d")
    runner = CliRunner()
    then = runner.invoke(
        cli, ["replay", "--data", str(tmp_path / "d"), "--at", "2026-11-24T21:15:00Z", "--json"]
    )
    assert then.exit_code == 0, then.output
    body = json.loads(then.output)
    assert body["seq"] == 2
    assert body["records"]["unit"][0]["status"] == "available"
    now = runner.invoke(
        cli, ["replay", "--data", str(tmp_path / "d"), "--at", "2026-11-24T23:00:00Z"]
    )
    assert "u1  ALPHA  on_scene" in now.output


def test_replay_refuses_a_time_without_a_zone(tmp_path):
    result = CliRunner().invoke(
        cli, ["replay", "--data", str(tmp_path), "--at", "2026-11-24T21:15:00"]
    )
    assert result.exit_code == 2
    assert "zone" in result.output


def test_the_top_level_help_loads_no_command_and_says_what_each_says_of_itself():
    """Issue 20: ``estran --help`` took 4 s importing every command; the group now loads a
    command only to run it. Its one-line help must stay each command's own."""
    import subprocess
    import sys

    from estran.cli.main import COMMANDS

    probe = ("import sys; from click.testing import CliRunner; from estran.cli.main import cli; "
             "out = CliRunner().invoke(cli, ['--help']).output; "
             "print(sorted(m for m in sys.modules if m.startswith('estran.')))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    assert "estran.cli.serve" not in loaded
    assert "estran.bootstrap" not in loaded
    for name, (_, _, summary) in COMMANDS.items():
        command = cli.get_command(click.Context(cli), name)
        assert command is not None, name
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == summary, name
    help_text = CliRunner().invoke(cli, ["--help"]).output
    assert all(name in help_text for name in COMMANDS)


def _pref(package: str) -> str:
    import zipfile

    with zipfile.ZipFile(package.strip().splitlines()[-1]) as z:
        return z.read("cert/server.pref").decode()


def test_certs_put_the_address_phones_reach_in_the_package_and_warn_when_they_cannot(tmp_path):
    """The data package points the phone at the address ``certs init --host`` named (not the
    loopback one phones cannot reach), and the CLI warns when the address is loopback or not
    one the server certificate names (the phone would refuse the server)."""
    runner = CliRunner()
    data = str(tmp_path / "data")
    init = runner.invoke(cli, ["certs", "init", "--data", data, "--host", "127.0.0.1",
                               "--host", "10.0.0.5", "--host", "estran.local"])  # fmt: skip
    assert init.exit_code == 0, init.output
    assert "warning" not in init.stderr
    made = runner.invoke(cli, ["certs", "client", "--data", data, "phone-1"])
    assert made.exit_code == 0, made.output
    assert "10.0.0.5:8089:ssl" in _pref(made.stdout)
    assert "warning" not in made.stderr
    other = runner.invoke(cli, ["certs", "client", "--data", data, "phone-2", "--host", "1.2.3.4"])
    assert "not 1.2.3.4" in other.stderr
    loop = runner.invoke(cli, ["certs", "client", "--data", data, "phone-3", "--host", "127.0.0.1"])
    assert "only this machine reaches" in loop.stderr
    local = str(tmp_path / "local")
    only = runner.invoke(cli, ["certs", "init", "--data", local])
    assert "phones cannot reach it" in only.stderr
    made = runner.invoke(cli, ["certs", "client", "--data", local, "phone-4"])
    assert "127.0.0.1:8089:ssl" in _pref(made.stdout)
    assert "only this machine reaches" in made.stderr


def test_thermal_replay_goes_to_the_centre_the_cli_is_configured_for(tmp_path):
    from estran.cli.thermal import configured_url
    from estran.config import Settings

    assert configured_url(Settings(data_dir=tmp_path, http_port=9123)) == "http://127.0.0.1:9123"
    wildcard = Settings(data_dir=tmp_path, host="0.0.0.0", http_port=8443)  # noqa: S104
    assert configured_url(wildcard) == "http://127.0.0.1:8443"
    assert configured_url(Settings(data_dir=tmp_path, host="10.0.0.5")) == "http://10.0.0.5:8080"
