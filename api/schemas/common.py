"""Building blocks shared by request schemas."""

from typing import Annotated

from pydantic import AfterValidator, StringConstraints


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
