"""The interface's languages: one catalogue of messages per language, chosen per request.

The catalogue keys are the English catalogue's; a test checks that every language has them all.
The choice is, in order: the ``lang`` parameter of the URL (so a shared link keeps its
language), the browser's ``Accept-Language``, English.

How a language writes numbers is in its catalogue too, so that a language is one file plus its
code in ``LANGUAGES`` (``api/languages.py``): ``number.digits`` (its ten digits, 0 to 9:
Devanagari for Nepali, Khmer for Khmer) and ``number.decimal_mark``. Every number the interface
writes (distances, hours, ages, dates) goes through ``Catalog.number``, ``Catalog.numerals`` or
an ``int`` given to a message; what is dialled or typed back (phone numbers, coordinates) keeps
the ASCII digits.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from api.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Catalog", "catalog", "negotiate"]

LOCALES = Path(__file__).parent / "locales"
ASCII_DIGITS = "0123456789"


@dataclass(frozen=True)
class Catalog:
    """The messages of one language; ``catalog(key, **values)`` is the message, filled in."""

    language: str
    messages: Mapping[str, str]

    def __call__(self, key: str, **values: object) -> str:
        """The message, with its placeholders filled in; an ``int`` is written in the language's
        digits (a number already written, a ``str``, is put in as it is)."""
        message = self.messages[key]
        if not values:
            return message
        return message.format(
            **{
                name: self.number(value, 0)
                if isinstance(value, int) and not isinstance(value, bool)
                else value
                for name, value in values.items()
            }
        )

    def has(self, key: str) -> bool:
        return key in self.messages

    @property
    def name(self) -> str:
        return self.messages["language.name"]

    def number(self, value: float, decimals: int) -> str:
        """``value`` with ``decimals`` decimals, in the language's digits and decimal mark."""
        written = f"{value:.{decimals}f}".replace(".", self.messages["number.decimal_mark"])
        return self.numerals(written)

    def numerals(self, text: str) -> str:
        """``text`` with its ASCII digits written in the language's (times, dates)."""
        return text.translate(_digits(self.messages["number.digits"]))


@cache
def _digits(digits: str) -> dict[int, int]:
    return str.maketrans(ASCII_DIGITS, digits) if digits != ASCII_DIGITS else {}


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
