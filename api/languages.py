"""The languages Relay speaks to people: those of the lookup pages (``api/web/locales/``), which
a person's account may also choose as its preferred language. Plain values, so that services and
pages read the same list (services may not import ``api.web``)."""

from enum import StrEnum

DEFAULT_LANGUAGE = "en"
# English and French, the working languages of the partner organisations; Nepali (Devanagari
# script), Malagasy and Khmer (Khmer script), the languages of the committees of Nepal,
# Madagascar and Cambodia, whose administrative areas Relay imports.
LANGUAGES = ("en", "fr", "ne", "mg", "km")

# The same codes as an enumeration, for a parameter that takes one (an unknown code is a 422).
Language = StrEnum("Language", [(code, code) for code in LANGUAGES])  # type: ignore[misc]
