"""Administrative areas (country > region > district > commune) as the API shows them."""

import uuid
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import Public


class AreaOutline(Public):
    """GeoJSON Polygon or MultiPolygon, WGS 84, as PostGIS wrote it (6 decimals)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(
        description="Rings of [longitude, latitude] positions (GeoJSON), sent as written."
    )


class AreaPublic(Public):
    id: uuid.UUID
    name: str
    level: int = Field(description="0 country, then each level below it.")
    code: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2.")
    parent_id: uuid.UUID | None = None
    geometry: AreaOutline | None = Field(default=None, description="With geometry=true.")


class AreaLookupMeta(Public):
    latitude: float
    longitude: float
    count: int


class AreaLookup(Public):
    data: list[AreaPublic] = Field(description="Smallest first.")
    meta: AreaLookupMeta
