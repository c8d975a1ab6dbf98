"""The translation catalogue kept in step with the text marked in the workbench.

``make messages`` (``python -m sqlcompiler.ui.catalogue``) extracts every marked text from the
templates and the pages' code, merges it into ``locale/vi/LC_MESSAGES/messages.po`` (the
translations already there are kept, texts no longer marked are dropped) and lists what still
needs a translation; ``tests/ui/test_i18n.py`` fails while anything does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from .i18n import LOCALE

UI = Path(__file__).resolve().parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"trimmed": "true"}}


def extracted() -> Catalog:
    """Every marked text, with where it is used."""
    template = Catalog(project="sqlcompiler workbench", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(UI, METHODS, OPTIONS):
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)  # fmt: skip
    return template


def path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "messages.po"


def merged(language: str) -> Catalog:
    """The language's catalogue updated with the marked texts (nothing written)."""
    with path(language).open("rb") as f:
        catalog = read_po(f, locale=language)
    catalog.update(extracted(), no_fuzzy_matching=True)
    return catalog


def untranslated(catalog: Catalog) -> list[str]:
    def done(s: str | tuple | None) -> bool:
        return bool(s) and (isinstance(s, str) or all(s))

    return [str(m.id) for m in catalog if m.id and not done(m.string)]


def main(language: str = "vi") -> int:
    catalog = merged(language)
    with path(language).open("wb") as f:
        write_po(f, catalog, width=100, ignore_obsolete=True, include_previous=False)
    missing = untranslated(catalog)
    for text in missing:
        print(f"needs a translation: {text}")
    print(f"{path(language)}: {len(catalog)} texts, {len(missing)} without a translation")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
