"""Services named with their organisation, as a page or a queue shows them (the report form, the
stale entries, a referral's draft)."""

from typing import Any

from sqlalchemy import Select, select
from sqlmodel import col

from api.models.directory import Service
from api.models.organization import Organization


def services_named(*columns: Any) -> Select[Any]:
    """Each service's id and name and its organisation's id and name, then ``columns``: services
    joined to their organisations."""
    return select(
        col(Service.id), col(Service.name), col(Organization.id), col(Organization.name), *columns
    ).join(Organization, col(Organization.id) == col(Service.organization_id))
