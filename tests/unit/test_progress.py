"""Long commands' progress (issue 20): a live bar on a terminal; written to a pipe or a log,
one line per stage and none per tick."""

from __future__ import annotations

import io

from estran.cli.progress import Progress


def _run(progress: Progress) -> None:
    for i in range(1, 61):
        progress(f"night {i}/60", i / 60)
    for i in range(1, 21):
        progress(f"replication {i}/20", i / 20)
    progress("solving the game", 1.0)
    progress.close()


def test_on_a_pipe_there_is_one_line_per_stage_and_no_carriage_return():
    out = io.StringIO()
    _run(Progress(out))  # a StringIO is not a terminal
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 4, lines  # three stages, then done
    assert lines[0].endswith("night 1/60")
    assert lines[-1].endswith("done")


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    out = io.StringIO()
    _run(Progress(out, live=True))
    text = out.getvalue()
    assert text.count("\r") >= 60
    assert text.count("\n") == 1


def test_progress_is_written_in_the_clis_language(monkeypatch):
    from estran.domain.messages import msg

    monkeypatch.setenv("ESTRAN_LANGUAGE", "fr")
    out = io.StringIO()
    bar = Progress(out)
    for i in range(1, 4):
        bar(msg("night {i}/{n}", i=i, n=3), i / 3)
    bar(msg("solving the game"), 1.0)
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "nuit 1/3", "résolution du jeu", "terminé",
    ]  # fmt: skip
