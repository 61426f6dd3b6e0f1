"""A partner's view of its own organisation's OAuth clients (any valid token)."""

from fastapi import APIRouter

from api.auth.dependencies import Authenticated
from api.deps import SessionDep
from api.pagination import Page, PageDep, PageMeta
from api.schemas.clients import ClientPublic
from api.services import clients

router = APIRouter(prefix="/v1/clients", tags=["clients"])


@router.get("", summary="Your organisation's OAuth clients")
async def list_own_clients(
    session: SessionDep, page: PageDep, principal: Authenticated
) -> Page[ClientPublic]:
    rows, total = await clients.page_own(session, principal, limit=page.limit, offset=page.offset)
    return Page(data=rows, meta=PageMeta(limit=page.limit, offset=page.offset, total=total))


@router.get("/{client_id}", summary="One of your organisation's OAuth clients")
async def get_own_client(
    client_id: str, session: SessionDep, principal: Authenticated
) -> ClientPublic:
    return await clients.get_own(session, principal, client_id)
