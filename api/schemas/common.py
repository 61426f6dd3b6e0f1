"""Building blocks shared by request and response schemas: the base of every request body and
of every response body, and the types of their fields."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class RequestBody(pydantic.BaseModel):
    """The base of every request body: a field it does not declare is refused (422), so that a
    misspelt field is a partner's bug to hear about, not a value silently ignored."""

    model_config = ConfigDict(extra="forbid")


class PatchBody(RequestBody):
    """The base of a PATCH's body: a field left out stays as it was; ``NEVER_NULL`` names the
    fields the record cannot do without, which may be left out but never sent as null (422,
    not the database's refusal)."""

    NEVER_NULL: ClassVar[tuple[str, ...]] = ()

    @pydantic.model_validator(mode="after")
    def _never_null(self) -> Self:
        for name in self.NEVER_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be left out, never null")
        return self


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

ShortName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_refuse_control_characters),
]
"""A name: 1 to 200 characters, trimmed (its length counted once trimmed: a name of spaces
only is refused, never stored empty)."""

# Numbers and flags of request bodies are taken as JSON spells them, never converted: a
# coordinate sent as "14" or true is a partner's bug to hear about, not a position to guess.
Number = Annotated[float, pydantic.Strict()]
"""A JSON number (an integer is a number too); true or "14" are refused."""

Integer = Annotated[int, pydantic.Strict()]
"""A JSON integer; true, 14.5 or "14" are refused."""

Flag = Annotated[bool, pydantic.Strict()]
"""true or false; 1, "true" or "yes" are refused."""


# -- response bodies ------------------------------------------------------------------------------


def _open_to_new_fields(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


class Public(BaseModel):
    """A response body (``XPublic``): what a service built, checked field by field on its way out.

    Closed when checked: a key the model does not name fails the response (a 500, caught by the
    tests) instead of reaching partners undocumented, or being dropped silently, which for a
    referral's safety instructions would be worse. Open in the published document, so that a
    field added later does not break the clients partners generated from it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_open_to_new_fields)


class Open(BaseModel):
    """Part of a response whose shape is defined elsewhere (a FHIR resource) or kept as JSON in
    the database (translations): the fields partners rely on are named, and any other is passed
    on as it is."""

    model_config = ConfigDict(extra="allow")


def _date_time(value: str) -> str:
    datetime.fromisoformat(value)
    return value


DateTime = Annotated[
    str, AfterValidator(_date_time), WithJsonSchema({"type": "string", "format": "date-time"})
]
"""An ISO 8601 date-time in a response, sent exactly as the service or PostgreSQL wrote it (some
bodies say ``+00:00``, some ``Z``, some six decimals always): checked, never reformatted."""

Numeric = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A number in a response, sent as it came (PostgreSQL's 14 stays 14, not 14.0)."""


def _absent(value: object) -> bool:
    return value is None


def omitted_when_absent(**kwargs: Any) -> Any:
    """An optional field left out of the body when it has no value (for bodies that keep their
    other nulls, where ``response_model_exclude_none`` cannot be used)."""
    return Field(default=None, exclude_if=_absent, **kwargs)


class CursorMeta(Public):
    count: int
    limit: int
    next_cursor: str | None = omitted_when_absent(
        description="Pass it as `cursor` for the next page; absent on the last one."
    )


class DocumentedAs:
    """Publish a field as another type than the one it is validated as, for a value checked
    elsewhere: a request field whose codes a service checks itself (with its own, clearer
    problem), or data kept as JSON since an earlier version wrote it. The document still names
    what it holds, e.g. ``Annotated[str, DocumentedAs(RejectionReason | HoldReason)]``."""

    def __init__(self, documented: Any) -> None:
        self.documented = documented

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(TypeAdapter(self.documented).core_schema)
