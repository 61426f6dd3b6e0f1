"""Bounded pages for ``/v1`` lists: ``{"data": [...], "meta": {"limit", "offset", "total"}}``,
and the opaque keyset cursors of the lists that change while a partner pages through them."""

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from api.errors import Unprocessable

MAXIMUM_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAXIMUM_OFFSET = 100_000


class PageParams(BaseModel):
    limit: int
    offset: int


async def _page(
    limit: Annotated[int, Query(ge=1, le=MAXIMUM_PAGE_SIZE, description="Items per page.")] = (
        DEFAULT_PAGE_SIZE
    ),
    offset: Annotated[int, Query(ge=0, le=MAXIMUM_OFFSET, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page)]


class PageMeta(BaseModel):
    limit: int
    offset: int
    total: int


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    meta: PageMeta


class InvalidCursor(Unprocessable, code="invalid-cursor"): ...


def write_cursor(*parts: object) -> str:
    """An opaque, URL-safe cursor of a row's sort key (e.g. its time and id)."""
    raw = "~".join(part.isoformat() if isinstance(part, datetime) else str(part) for part in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_parts(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("~")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API gave.") from None


def read_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (time, id) of a ``write_cursor(moment, id)``."""
    parts = read_parts(cursor)
    try:
        moment, identifier = parts
        found = datetime.fromisoformat(moment), uuid.UUID(identifier)
    except ValueError:
        raise InvalidCursor("The cursor is not one this API gave.") from None
    if found[0].tzinfo is None:
        raise InvalidCursor("The cursor is not one this API gave.")
    return found
