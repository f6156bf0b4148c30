"""Sign-in throttling: per source, and per source and account name, with back-off (pure).

Why not a hard account lock: anyone who knows a commander's user name could lock them out at
will from anywhere. Instead, failures are counted per *(source, name)* and per *source*; a key
that reaches its limit is refused for ``base_s``, doubling at each further limit reached (up to
``max_s``). The commander's own terminal is never held back by another source's guesses.

Unknown names are counted exactly as known ones, so the answers never tell which names exist.

Attempts are *reserved* before the password is checked (``begin``), under one lock, so
parallel guesses cannot overrun the limit: with a limit of 5, 40 simultaneous wrong passwords
get 5 real checks, and the rest are refused before any work is done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

__all__ = ["SignInThrottle", "Verdict"]

_MAX_KEYS: Final = 100_000


@dataclass
class _Count:
    failures: int = 0
    in_flight: int = 0
    blocked_until: float = 0.0
    strikes: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


@dataclass
class SignInThrottle:
    per_name: int = 5
    """Failures in a row from one source for one name before it is held back."""
    per_source: int = 20
    """Failures in a row from one source, whatever the names, before it is held back."""
    base_s: float = 60.0
    max_s: float = 3600.0
    _keys: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, source: str, name: str) -> list[tuple[tuple[str, str], int]]:
        return [((source, name.lower()), self.per_name), ((source, ""), self.per_source)]

    def begin(self, source: str, name: str, now_s: float) -> Verdict:
        """Reserve one attempt; refused (with when to retry) if a limit is reached."""
        with self._lock:
            if len(self._keys) > _MAX_KEYS:
                self._keys = {k: c for k, c in self._keys.items() if c.blocked_until > now_s}
            counts = [
                (self._keys.setdefault(k, _Count()), limit) for k, limit in self._key(source, name)
            ]
            wait = max((c.blocked_until - now_s for c, _ in counts), default=0.0)
            if wait > 0:
                return Verdict(False, wait)
            if any(c.failures + c.in_flight >= limit for c, limit in counts):
                return Verdict(False, self.base_s)
            for c, _ in counts:
                c.in_flight += 1
            return Verdict(True)

    def end(self, source: str, name: str, now_s: float, *, success: bool) -> None:
        """The outcome of a reserved attempt."""
        with self._lock:
            for key, limit in self._key(source, name):
                c = self._keys.setdefault(key, _Count())
                c.in_flight = max(0, c.in_flight - 1)
                if success:
                    c.failures = 0  # "in a row": a success ends the run of failures
                    if key[1]:
                        c.strikes = 0  # the back-off of the source as a whole stays
                    continue
                c.failures += 1
                if c.failures >= limit:
                    c.blocked_until = now_s + min(self.max_s, self.base_s * 2**c.strikes)
                    c.strikes += 1
                    c.failures = 0
