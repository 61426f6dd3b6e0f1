"""The interface's languages: one catalogue of messages per language, chosen per request.

The catalogue keys are the English catalogue's; a test checks that every language has them all.
The choice is, in order: the ``lang`` parameter of the URL (so a shared link keeps its
language), the browser's ``Accept-Language``, English.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from api.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Catalog", "catalog", "negotiate"]

LOCALES = Path(__file__).parent / "locales"
DECIMAL_MARK = {"en": ".", "fr": ",", "ne": "."}


@dataclass(frozen=True)
class Catalog:
    """The messages of one language; ``catalog(key, **values)`` is the message, filled in."""

    language: str
    messages: Mapping[str, str]

    def __call__(self, key: str, **values: object) -> str:
        message = self.messages[key]
        return message.format(**values) if values else message

    def has(self, key: str) -> bool:
        return key in self.messages

    @property
    def name(self) -> str:
        return self.messages["language.name"]

    def number(self, value: float, decimals: int) -> str:
        return f"{value:.{decimals}f}".replace(".", DECIMAL_MARK[self.language])


@cache
def catalog(language: str) -> Catalog:
    if language not in LANGUAGES:
        raise KeyError(language)
    path = LOCALES / f"{language}.json"
    messages: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(language, messages)


def negotiate(requested: str | None, accept_language: str | None) -> str:
    """The language to answer in: the requested one if Relay has it, else the browser's most
    preferred language Relay has (RFC 9110 §12.5.4 weights), else English."""
    if requested in LANGUAGES:
        return requested
    preferences: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:32]):
        tag, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and weight > 0:
            preferences.append((-weight, position, primary))
    return min(preferences)[2] if preferences else DEFAULT_LANGUAGE
