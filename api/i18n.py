"""Message catalogues for the HTML pages: Japanese first, English available.

Every string a page shows lives in ``api/locales/<lang>.json`` (flat ``"section.key": "text"``
maps, the same keys in every language; ``tests/api/test_pages.py`` checks). The staff console's
strings are split by area into ``api/locales/console/<area>.<lang>.json``, the certificate's into
``api/locales/certificate/<area>.<lang>.json`` (any ``api/locales/<folder>/<area>.<lang>.json``), and
merged into the same catalogue (a key defined twice is an error). The language of a
request is, in order: ``?lang=``, the ``lang`` cookie (set when ``?lang=`` is used), the
``Accept-Language`` header, Japanese.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Final

from starlette.requests import Request

__all__ = [
    "DEFAULT_LANG",
    "LANG_COOKIE",
    "LANGUAGES",
    "Catalogue",
    "catalogue",
    "from_accept_language",
    "pick_language",
]

LOCALES: Final = Path(__file__).resolve().parent / "locales"
LANGUAGES: Final = ("ja", "en")
DEFAULT_LANG: Final = "ja"
LANG_COOKIE: Final = "lang"


class Catalogue:
    """The messages of one language; ``t(key, **params)`` formats ``{name}`` placeholders."""

    def __init__(self, lang: str, messages: dict[str, str]) -> None:
        self.lang = lang
        self.messages = messages

    def t(self, key: str, /, **params: object) -> str:
        try:
            text = self.messages[key]
        except KeyError:
            raise KeyError(f"message {key!r} is missing from api/locales/{self.lang}.json") from None
        return text.format(**params) if params else text

    def subset(self, *prefixes: str) -> dict[str, str]:
        """The messages whose keys start with one of ``prefixes`` (what a page's script needs)."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefixes)}


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> Catalogue:
    if lang not in LANGUAGES:
        raise KeyError(f"unsupported language {lang!r}")
    messages: dict[str, str] = {}
    for path in (LOCALES / f"{lang}.json", *sorted(LOCALES.glob(f"*/*.{lang}.json"))):
        part = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(part, dict) or not all(isinstance(v, str) for v in part.values()):
            raise ValueError(f"{path} must be a flat object of strings")
        twice = messages.keys() & part.keys()
        if twice:
            raise ValueError(f"{path} defines {sorted(twice)[:5]} again")
        messages.update(part)
    return Catalogue(lang, messages)


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (``q`` weights honoured), if any."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def pick_language(request: Request) -> tuple[str, bool]:
    """The language of this request, and whether it was chosen explicitly (``?lang=``)."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie, False
    return from_accept_language(request.headers.get("accept-language")) or DEFAULT_LANG, False
