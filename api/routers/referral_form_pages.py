"""The printable referral form as a page of the app (issue 21): ``/app/referrals/{id}/form``,
for a person signed in, in the page's language (``?lang=``, else the session's).

It calls the same service as the API's export (``referrals.printable``) with the person as the
principal, so it shows exactly what the export shows them: a volunteer sees no person's data, a
closed referral none either. A referral the person's organisation is not party to is the same
"not found" as one that does not exist. The referral's id is in the address, the person's data
never (nor in the title, which is the catalogue's).
"""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep, SettingsDep
from api.errors import NotFound, RelayError
from api.services import referrals
from api.web.pages import app_document, language_of, message_page
from api.web.referral_form import render_referral_form
from api.web.session import HOME_PATH, SignedInVisitor

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)


def form_path(referral_id: uuid.UUID | str) -> str:
    """The address of a referral's printable form (for the pages that link to it)."""
    return f"/app/referrals/{referral_id}/form"


def _refused(request: Request, status: int) -> Response:
    """No such referral for this person (404), or not theirs to print (403: a role without the
    referrals' scopes), in words."""
    message = "form.not_found" if status == NotFound.status else "form.not_allowed"
    return message_page(
        request, status_code=status, title="problem.title", message=message, back=HOME_PATH
    )


@router.get("/referrals/{referral_id}/form", summary="A referral's printable form (HTML)")
async def referral_form(
    referral_id: str,
    request: Request,
    database: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
) -> Response:
    try:
        wanted = uuid.UUID(referral_id)
    except ValueError:
        return _refused(request, NotFound.status)
    try:
        found = await referrals.printable(database, settings, visitor.principal(settings), wanted)
    except RelayError as error:
        return _refused(request, error.status)
    language = language_of(request)
    back = f"/app/referrals/{wanted}"  # the case file (api/routers/referral_pages.py)
    return app_document(request, render_referral_form(found, language, back=back), language)
