"""Progress of a long command on standard error: a live one-line bar on a terminal; on a pipe
or in a log, one line per stage and none per tick (a bar's carriage returns there made
megabytes of output)."""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from estran.cli.output import localize
from estran.domain.messages import msg

__all__ = ["Progress"]

_COUNTERS = re.compile(r"\d+")


class Progress:
    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.last = ""
        self.stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        stage = localize(stage)  # the CLI's language
        elapsed = time.monotonic() - self.started
        if not self.live:
            label = _COUNTERS.sub("N", stage)  # "night 3/60" and "night 4/60": one stage
            if label != self.stage:
                self.stage = label
                self.stream.write(f"[{elapsed:6.1f} s] {stage}\n")
                self.stream.flush()
            return
        width = 30
        done = int(width * max(0.0, min(1.0, fraction)))
        line = (
            f"\r[{'#' * done}{'.' * (width - done)}] {fraction:4.0%} "
            f"{elapsed:5.1f} s  {stage[:40]:<40}"
        )
        if line != self.last:
            self.stream.write(line)
            self.stream.flush()
            self.last = line

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
        else:
            done = localize(msg("done"))
            self.stream.write(f"[{time.monotonic() - self.started:6.1f} s] {done}\n")
        self.stream.flush()
