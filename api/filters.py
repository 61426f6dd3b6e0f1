"""What a caller asks a read for: plain values that routers build from the query string,
services pass on and repositories turn into SQL, so that none of the three imports another's
module to name them.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from api.models.referral import Box


@dataclass(frozen=True)
class DirectoryFilters:
    """HSDS filters, AND-combined. Only those given narrow the query."""

    search: str | None = None
    taxonomy_term_id: uuid.UUID | None = None
    taxonomy_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    modified_after: datetime | None = None


@dataclass(frozen=True)
class ReferralFilters:
    """Which of its referrals an organisation lists: those of one box, narrowed by the filters
    given (statuses and priorities: any of those listed)."""

    box: Box
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    updated_since: datetime | None = None
