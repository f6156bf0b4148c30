"""Messages Estran writes for people, kept translatable (pure).

A message is written where it arises, in English, as a template and its particulars::

    raise NotFoundError("task", tid, msg("no {kind} with id {id!r}", kind="task", id=tid))

``msg`` returns a :class:`Msg`: a ``str`` (the English text, so logs, the audit trail and every
caller that reads it as text are unchanged) that also keeps its ``template`` and ``params``.
At the edge (an HTTP answer, the CLI, a record written for both languages) ``estran.i18n``
looks the template up in the French gettext catalogue (``src/estran/i18n/fr.po``, extracted
with Babel: ``msg`` is the extraction keyword) and formats it with the particulars in the
reader's locale. A particular that is itself a ``Msg`` is translated too.

The domain only marks text for translation; it reads no catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["N_", "VOCABULARY", "Joined", "Msg", "joined", "msg"]


class Msg(str):
    """English text that remembers the template and particulars it was made from."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Msg:
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template = template
        self.params = params
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (a plan cached across processes) as template and particulars, not as the
        # formatted text, which ``__new__`` would read as a template.
        return (_rebuild, (self.template, self.params))


def _rebuild(template: str, params: dict[str, Any]) -> Msg:
    return Msg(template, **params)


def N_(template: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks a template for translation without making a message yet (gettext's
    ``gettext_noop``): for a hot path that only sometimes needs the text, which then makes
    it with ``msg(template, **params)``."""
    return template


def msg(template: str, **params: Any) -> Msg:
    """A message for people: ``template`` (English, ``str.format`` fields) with its
    particulars. The gettext extraction keyword."""
    return Msg(template, **params)


class Joined(Msg):
    """Items joined by a separator, each (and the separator) translated on its own."""

    sep: str
    items: tuple[str, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        return (joined, (list(self.items), self.sep))


def joined(items: Sequence[str], sep: str = ", ") -> Msg:
    """``items`` joined by ``sep`` (``", "``, ``"; then "``) as one message."""
    params = {f"i{n}": item for n, item in enumerate(items)}
    out = Joined(sep.join("{" + k + "}" for k in params), **params)
    out.sep, out.items = sep, tuple(items)
    return out


VOCABULARY: tuple[str, ...] = (
    # Words that reach messages as particulars (a record's kind, a terrain class, a mobility
    # profile's label from mobility.toml): the translator looks a plain-text particular up
    # in the catalogue, and these put them there.
    N_("incident"), N_("task"), N_("unit"), N_("detection"), N_("track"), N_("sensor"),
    N_("rescue case"), N_("rescue_case"), N_("post"), N_("plan"), N_("log entry"),
    N_("log_entry"), N_("agency"), N_("recommendation"), N_("foreign"), N_("user"),
    N_("foot patrol at night with kit"), N_("dune buggy"), N_("drone (thermal)"),
    N_("aircraft"), N_("foot patrol"), N_("buggy"), N_("4x4"), N_("drone"),
    N_("wet_sand"), N_("dry_sand"), N_("dune_grass"),
    N_("wet sand"), N_("dry sand"), N_("dune grass"), N_("scrub"), N_("woodland"),
    N_("farmland"), N_("urban"), N_("road"), N_("track"), N_("marsh"), N_("water"), N_("sea"),
    N_("cliff"), N_("building"), N_("bunker"), N_("beach"), N_("dune"), N_("unknown"),
    N_("missing"),
    N_("nothing"), N_("; then "),
)  # fmt: skip
