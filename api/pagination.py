"""Bounded pages for ``/v1`` lists: ``{"data": [...], "meta": {"limit", "offset", "total"}}``."""

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

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
