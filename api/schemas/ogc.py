"""OGC API - Features Part 1 response shapes, as documented in Relay's OpenAPI.

Member names are the standard's (``conformsTo``, ``itemType``, ``numberMatched``, ``timeStamp``),
hence the camelCase. Features are GeoJSON: ``geometry`` is always present, ``null`` when a place
has no coordinates or must not be located by this caller (api/services/ogc.py).
"""

from typing import Literal

from geojson_pydantic import MultiPolygon, Point
from pydantic import BaseModel, Field


class Link(BaseModel):
    href: str = Field(description="Absolute URL of the target.")
    rel: str = Field(examples=["self", "next", "items"])
    type: str | None = Field(default=None, examples=["application/geo+json"])
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(
        description="One box: minimum longitude, minimum latitude, maximum longitude, maximum "
        "latitude (CRS84).",
        examples=[[[-16.4, 13.8, -15.5, 14.4]]],
    )
    crs: str


class Extent(BaseModel):
    spatial: SpatialExtent


class Collection(BaseModel):
    id: str = Field(examples=["services"])
    title: str
    description: str
    links: list[Link]
    extent: Extent | None = Field(default=None, description="Absent while the collection is empty.")
    itemType: Literal["feature"] = "feature"
    crs: list[str]


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class ServiceProperties(BaseModel):
    """A service at one of its locations. A confidential location keeps its area and the
    service's phones; its name is replaced unless the caller may locate it."""

    service_id: str
    name: str
    status: str
    accepts_referrals: bool
    organization_id: str
    organization_name: str
    organization_kind: str
    needs: list[str] = Field(description="Referral-needs codes (/hsds/taxonomy_terms).")
    phones: list[str]
    location_id: str
    location_name: str | None
    admin_area: str | None
    confidential: bool


class AreaProperties(BaseModel):
    name: str
    level: int
    code: str | None
    country: str | None
    parent_id: str | None


class Feature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: Point | MultiPolygon | None
    properties: ServiceProperties | AreaProperties
    links: list[Link] | None = None


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[Feature]
    links: list[Link]
    numberMatched: int | None = Field(
        default=None,
        ge=0,
        description="Features matching the query, on the first page of a walk (pages reached "
        "through next or prev links leave it out).",
    )
    numberReturned: int = Field(ge=0)
    timeStamp: str = Field(examples=["2025-01-31T09:30:00Z"])
