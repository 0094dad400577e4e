"""The console's languages: Chinese (zh-CN) first, English available. Messages are written in
English in the templates and the code, and translated from Babel's catalogue
(messages/zh_CN/LC_MESSAGES/console.po), read once at start."""

from __future__ import annotations

import gettext
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "messages" / "zh_CN" / "LC_MESSAGES" / "console.po"
LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"


class CatalogTranslations(gettext.NullTranslations):
    """gettext's interface over a Babel catalogue; a message without a translation stays as
    written."""

    def __init__(self, catalog: Catalog | None) -> None:
        super().__init__()
        self._found: dict[str, str] = {}
        self._plural: dict[str, tuple[str, ...]] = {}
        for m in catalog or ():
            if not m.id or not m.string:
                continue
            if isinstance(m.id, tuple):
                self._plural[m.id[0]] = tuple(m.string)
            elif isinstance(m.id, str) and isinstance(m.string, str):
                self._found[m.id] = m.string

    def gettext(self, message: str) -> str:
        return self._found.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self._plural.get(singular)
        if forms and forms[0]:
            return forms[0]  # Chinese has one form
        return singular if n == 1 else plural


def load_catalogue(path: Path = CATALOGUE) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="zh_CN")


def translations() -> dict[str, CatalogTranslations]:
    return {"zh-CN": CatalogTranslations(load_catalogue()), "en": CatalogTranslations(None)}


def pick(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT
