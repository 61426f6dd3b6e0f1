"""Contract of the organisation endpoints."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.models.organization import OrganizationKind, OrganizationStatus
from api.schemas.common import RequestBody, ShortName


class OrganizationCreate(RequestBody):
    name: ShortName
    kind: OrganizationKind


class OrganizationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrganizationKind
    status: OrganizationStatus = Field(description="suspended organisations' tokens stop working")
    created_at: datetime
