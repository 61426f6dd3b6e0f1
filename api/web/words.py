"""Facts about a service in plain words of the chosen language: distance, hours, who may come."""

from typing import Any

from api.services.lookup import Card
from api.web.i18n import Catalog

WEEK = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKING_WEEK = WEEK[:5]
TO = "\u2013"  # an en dash between two times


def distance(words: Catalog, metres: float | None) -> str | None:
    if metres is None:
        return None
    if metres < 1000:
        return words("result.distance_m", distance=max(10, round(metres / 10) * 10))
    kilometres = metres / 1000
    return words(
        "result.distance_km", distance=words.number(kilometres, 1 if kilometres < 100 else 0)
    )


def _days(words: Catalog, byday: str | None) -> str:
    days = [day.strip()[-2:] for day in (byday or "").split(",") if day.strip()]
    if not days or set(days) == set(WEEK):
        return words("hours.every_day")
    if sorted(days, key=WEEK.index) == list(WORKING_WEEK):
        return words("hours.weekdays")
    return ", ".join(words(f"day.{day}") for day in sorted(set(days), key=WEEK.index))


def hours(words: Catalog, schedules: list[dict[str, Any]]) -> str | None:
    """``Monday to Friday 08:00-17:00`` (en dash, the language's digits), ``Open 24 hours,
    every day``, or None."""
    parts = []
    for schedule in schedules:
        opens, closes = schedule.get("opens_at"), schedule.get("closes_at")
        if opens is None or closes is None:
            continue
        days = _days(words, schedule.get("byday"))
        if opens == closes:
            whole_week = days == words("hours.every_day")
            always = words.numerals(f"00:00{TO}24:00")
            parts.append(words("hours.always") if whole_week else f"{days} {always}")
        else:
            parts.append(f"{days} {words.numerals(f'{opens[:5]}{TO}{closes[:5]}')}")
    return "; ".join(parts) or None


def who(words: Catalog, card: Card) -> str:
    """Whom the service is for: genders, target groups, ages; ``Everyone`` when unrestricted."""
    parts = [words(f"who.{gender}") for gender in card.genders if words.has(f"who.{gender}")]
    parts += [
        words(f"group.{group}") for group in card.target_groups if words.has(f"group.{group}")
    ]
    if card.minimum_age is not None and card.maximum_age is not None:
        parts.append(words("who.age_range", minimum=card.minimum_age, maximum=card.maximum_age))
    elif card.minimum_age is not None:
        parts.append(words("who.age_minimum", minimum=card.minimum_age))
    elif card.maximum_age is not None:
        parts.append(words("who.age_maximum", maximum=card.maximum_age))
    if not parts:
        return words("who.everyone")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]
