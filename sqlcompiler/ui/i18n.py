"""The workbench in its user's language: English (the source text) or Vietnamese.

Text is marked in the templates (``{% trans %}``, ``_()``) and in the pages' code (``_``
from here); the catalogue is ``locale/vi/LC_MESSAGES/messages.po``, compiled in memory when
first used, so there is no build step and no binary file in the repository (``make messages``
extracts new text into it; a test fails while a marked text has no translation). The language
is the one the user picked (a cookie set by the switch in the page header), else the first the
browser asks for that we have, else the workbench's default.

Configuration names, values and the validator's messages stay as written: they are the
user's own words or the file format's.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import re
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT = "en"
COOKIE = "sqlcompiler_language"
_current: ContextVar[str] = ContextVar("sqlcompiler_language", default=DEFAULT)


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    if language == "en":
        return _gettext.NullTranslations()
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """``message`` in the current request's language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks text for the catalogue that is translated later, when it is shown."""
    return message


# stored values shown in words: a run's kind and status, a role, a data source, a party
WORDS = {
    v: v
    for v in (
        N_("full"), N_("list"), N_("running"), N_("succeeded"), N_("failed"), N_("held"),
        N_("viewer"), N_("editor"), N_("approver"), N_("entered"), N_("left"), N_("moved"),
    )
}  # fmt: skip


# operators, parties and phone types in words; the option's value stays the file's own word
OPERATOR_WORDS = {
    "=": N_("is"), "!=": N_("is not"), ">": N_("is more than"), ">=": N_("is at least"),
    "<": N_("is less than"), "<=": N_("is at most"),
    "LIKE": N_("matches the pattern (_ is one character, the percent sign any text)"),
    "NOT LIKE": N_("does not match the pattern"),
    "ILIKE": N_("matches the pattern, upper or lower case alike"),
    "IN": N_("is one of"), "NOT IN": N_("is none of"),
    "BETWEEN": N_("is between (both ends included)"),
    "IS NULL": N_("is missing"), "IS NOT NULL": N_("is present"),
}  # fmt: skip
PARTY_WORDS = {
    "customer": N_("the customer"),
    "reference_customer_parent": N_("the customer's references who are parents"),
    "reference_customer_all": N_("all the customer's references"),
}
CONTACT_WORDS = {"mobile": N_("mobile"), "home": N_("home"), "work": N_("work"),
                 "all": N_("all")}  # fmt: skip


def word(value: str | None) -> str:
    """A stored value in the user's language (the value itself when it is not one of ours)."""
    return _(WORDS[value]) if value in WORDS else (value or "")


_PLACE_WORD = re.compile(r"(^|, )(group|campaign|contact rule|condition)(?= ['\d])")


def place(where: str) -> tuple[str, str]:
    """A validator's location, ``groups[0].campaigns[1] (group 'G', campaign 'C')``, as the
    words a manager reads first (in their language) and the file path as a detail."""
    path, sep, words = where.partition(" (")
    if not sep or not words.endswith(")"):
        return where, ""
    said = {"group": N_("group"), "campaign": N_("campaign"), "contact rule": N_("contact rule"),
            "condition": N_("condition")}  # fmt: skip
    return _PLACE_WORD.sub(lambda m: m.group(1) + _(said[m.group(2)]), words[:-1]), path


def language() -> str:
    return _current.get()


def choose(cookie: str | None, accept_language: str | None, default: str = DEFAULT) -> str:
    """The cookie's language if we have it, else the browser's best (RFC 9110 q-values),
    else ``default``."""
    if cookie in LANGUAGES:
        return cookie
    asked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _eq, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            asked.append((-q, i, primary))
    return min(asked)[2] if asked else default


class LanguageMiddleware:
    """Sets the request's language for everything that renders it (pages and messages)."""

    def __init__(self, app, default: str = DEFAULT):
        self.app = app
        self.default = default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        cookie = _cookie(headers.get("cookie", ""))
        token = _current.set(choose(cookie, headers.get("accept-language"), self.default))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def _cookie(header: str) -> str | None:
    for item in header.split(";"):
        name, _eq, value = item.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def install(env) -> None:
    """``{% trans %}`` and ``_()`` in the templates, in the request's language."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # a message's line breaks are not part of it
    env.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)
    env.globals["language"] = language
    env.globals["word"] = word
    env.filters["place"] = place
    env.globals.update(operator_words=OPERATOR_WORDS, party_words=PARTY_WORDS,
                       contact_words=CONTACT_WORDS)  # fmt: skip
    env.globals["languages"] = LANGUAGES
