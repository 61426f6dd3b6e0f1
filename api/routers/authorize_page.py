"""The authorization endpoint (``GET``/``POST /oauth/authorize``): where an app acting for a
person sends them to be asked (issue 20, part 3). HTML on the web session of Relay's own pages
(``api/web/session.py``): a person not signed in goes to the sign-in page, which brings them
back here; the consent screen names the app, its organisation and, in words, what it would be
allowed; the answer is posted with the session's CSRF token and sends the browser back to the
app with a code, or with ``access_denied``.

The checks and the code are ``api/services/authorization.py``'s (``api/auth/authorize.py``
underneath): a request naming no client acting for people, or a redirect URI not registered for
it, is an error page here and never a redirect (RFC 6749 §4.1.2.1); any other error goes back to
the app. As every page of the app, the consent page is not cached, not framed and runs no
script; its form may lead to this site and to the app's redirect URI only (``form-action``,
which browsers apply to where a form's post is redirected).
"""

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth.authorize import AUTHORIZE_PATH, ErrorPage, Redirect, fields_of
from api.deps import SessionDep, SettingsDep
from api.services import authorization
from api.services.people import SignedInUser
from api.web.pages import APP_CONTENT_SECURITY_POLICY, app_page, message_page, posted, redirect
from api.web.session import SignedInVisitor

router = APIRouter(tags=["oauth"], include_in_schema=False)


def _person(visitor: SignedInVisitor) -> SignedInUser:
    assert visitor.person is not None
    return visitor.person


def _answer(request: Request, answer: ErrorPage | Redirect) -> Response:
    if isinstance(answer, ErrorPage):
        return message_page(
            request,
            status_code=400,
            title="authorize.error.title",
            message=f"authorize.error.{answer.reason.value}",
        )
    return redirect(request, answer.location)


def _policy(redirect_uri: str) -> str:
    """The app's pages' policy, with the consent form allowed to lead on to the app."""
    parts = urlsplit(redirect_uri)
    return APP_CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
    )


@router.get(AUTHORIZE_PATH, summary="Ask a person to let an app act for them (HTML)")
async def ask(
    request: Request, database: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    pairs = list(request.query_params.multi_items())
    screen = await authorization.consent(database, settings, pairs, _person(visitor))
    if not isinstance(screen, authorization.ConsentScreen):
        return _answer(request, screen)
    return app_page(
        request,
        "app/authorize.html",
        screen=screen,
        action=AUTHORIZE_PATH,
        headers={"Content-Security-Policy": _policy(screen.fields["redirect_uri"])},
    )


@router.post(AUTHORIZE_PATH, summary="The person's answer to an app (HTML form)")
async def answer(
    request: Request, database: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    form = await posted(request)
    decided = await authorization.decide(
        database,
        settings,
        fields_of(form),
        _person(visitor),
        allow=form.get("decision") == "allow",
    )
    return _answer(request, decided)
