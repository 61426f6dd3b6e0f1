"""The event feed: what happened to your organisation's referrals, consents and directory
entries, in order, with a cursor that survives restarts."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth.dependencies import Authenticated
from api.deps import SessionDep
from api.schemas.events import EventPage
from api.services import events as service

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get(
    "",
    summary="Events for your organisation after a cursor (ids and codes only, no personal data)",
    response_model=EventPage,
    responses={
        410: {"description": "The cursor is older than the retained history"},
        422: {"description": "A cursor this API did not give, or an unknown type"},
    },
)
async def list_events(
    session: SessionDep,
    principal: Authenticated,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            description="meta.next_cursor of the previous page; none: from the oldest kept.",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Comma-separated event types, e.g. referral.created,referral.overdue.",
            examples=["referral.created,referral.status_changed"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.FEED_LIMIT)] = 100,
) -> dict[str, Any]:
    return await service.feed(
        session, principal, after=after, types=service.parse_types(types), limit=limit
    )
