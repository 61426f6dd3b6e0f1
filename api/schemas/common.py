"""Building blocks shared by request schemas: the base of every request body, and the types of
its fields."""

from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, ConfigDict, StringConstraints


class RequestBody(pydantic.BaseModel):
    """The base of every request body: a field it does not declare is refused (422), so that a
    misspelt field is a partner's bug to hear about, not a value silently ignored."""

    model_config = ConfigDict(extra="forbid")


def unique(values: list[Any]) -> list[Any]:
    """A list's validator (``AfterValidator(unique)``): no value may appear twice."""
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


def _refuse_control_characters(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no field of ours needs other control characters
    # except line breaks and tabs in free text.
    if any(ord(character) < 32 and character not in "\n\r\t" for character in value):
        raise ValueError("control characters are not allowed")
    return value


Text = Annotated[str, AfterValidator(_refuse_control_characters)]
"""Free text: any printable characters, line breaks and tabs."""

ShortName = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""A name: 1 to 200 characters, trimmed."""

# Numbers and flags of request bodies are taken as JSON spells them, never converted: a
# coordinate sent as "14" or true is a partner's bug to hear about, not a position to guess.
Number = Annotated[float, pydantic.Strict()]
"""A JSON number (an integer is a number too); true or "14" are refused."""

Integer = Annotated[int, pydantic.Strict()]
"""A JSON integer; true, 14.5 or "14" are refused."""

Flag = Annotated[bool, pydantic.Strict()]
"""true or false; 1, "true" or "yes" are refused."""
