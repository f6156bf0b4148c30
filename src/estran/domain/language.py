"""Which language a user reads Estran in (pure): French or English.

The centre is French and its users are gendarmes and police; the liaison officers are British.
An account may choose its language; otherwise its nation's (FR: French, others: English). The
API's messages follow the request's ``Accept-Language`` first (``fr``, ``en``, with their
weights), then the account's language.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["LANGUAGES", "Language", "account_language", "from_accept_language"]

Language = Literal["fr", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("fr", "en")


def account_language(chosen: str | None, nation: str) -> Language:
    """An account's language: its own choice, else its nation's."""
    if chosen == "fr" or (chosen is None and nation == "FR"):
        return "fr"
    return "en"


def from_accept_language(header: str | None) -> Language | None:
    """The best of French and English an ``Accept-Language`` header asks for (RFC 9110
    weights, ``fr-FR`` counting as ``fr``); None when it asks for neither."""
    if not header:
        return None
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight <= 0:
            continue
        candidate = (weight, -position, primary)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[2]
