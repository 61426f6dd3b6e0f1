"""HSDS 3.1 response shapes, as documented in Relay's OpenAPI.

They name the fields HSDS requires and allow every other HSDS field and Relay extension; the
full definitions are the HSDS schemas themselves, which the conformance tests validate against.
"""

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ApiDetails(BaseModel):
    version: str = Field(examples=["3.1"])
    profile: str
    openapi_url: str


class HsdsOrganization(_Open):
    id: str
    name: str
    description: str


class HsdsService(_Open):
    id: str
    name: str
    status: str


class HsdsLocation(_Open):
    id: str
    location_type: str = Field(examples=["physical", "virtual"])


class HsdsServiceAtLocation(_Open):
    id: str


class HsdsServiceAtLocationListed(HsdsServiceAtLocation):
    distance_m: float | None = Field(
        default=None,
        description=(
            "Relay extension, in proximity searches only: geodesic distance in metres (WGS 84, "
            "to 0.1 m) from the point or postcode searched."
        ),
    )


class HsdsTaxonomy(_Open):
    id: str
    name: str
    description: str


class HsdsTaxonomyTerm(_Open):
    id: str
    name: str
    description: str


class _Page(BaseModel):
    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool


class ServicePage(_Page):
    contents: list[HsdsService | dict[str, str]]


class OrganizationPage(_Page):
    contents: list[HsdsOrganization]


class ServiceAtLocationPage(_Page):
    contents: list[HsdsServiceAtLocationListed]


class TaxonomyPage(_Page):
    contents: list[HsdsTaxonomy]


class TaxonomyTermPage(_Page):
    contents: list[HsdsTaxonomyTerm]
