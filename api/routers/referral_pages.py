"""The referral workspace's pages (issue 21): refer a case in steps, the sender's list, the
receiving organisation's inbox, and one referral's case file with the moves its side may make.

Every page needs a signed-in person (``PersonPrincipal``) and calls the services the API calls
(``api.services.referrals``: drafts, workspace, transitions), so the pages and the API cannot
drift apart: a volunteer sees no person's data after sending because the service withholds it,
not because a template leaves it out. A person's data never goes into a URL or a title: forms
post it, and the draft keeps it sealed on the server (``drafts``). Pages carry
``Cache-Control: no-store`` (``app_page``).
"""

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.viewer import Viewer
from api.config import Settings
from api.deps import SessionDep
from api.errors import RelayError
from api.models.directory import Gender
from api.models.referral import (
    ConsentGiver,
    ConsentMethod,
    DataCategory,
    Priority,
    SharingProfile,
)
from api.schemas.referrals import (
    ChildProtectionConcern,
    ContactChannel,
    GbvType,
    NoteCreate,
    Outcome,
    Reason,
    Safety,
    StatusChange,
    Subject,
    TraffickingIndicator,
)
from api.services import fhir, lookup
from api.services import referrals as referral_service
from api.services.consents import PROFILE_CATEGORIES
from api.services.lookup import Area, Origin
from api.services.referrals import drafts, workspace
from api.services.referrals.drafts import Draft, DraftIncomplete, DraftNotFound
from api.services.referrals.errors import ReferralNotFound
from api.taxonomy import NEED_CODES
from api.web import words
from api.web.i18n import LANGUAGES, catalog
from api.web.pages import Problem, app_page, language_of, message_page, problem_of, redirect
from api.web.paths import REFER_PATH, SENT_PATH
from api.web.session import PersonPrincipal, check_csrf

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)

STEPS = ("need", "services", "consent", "person", "safety", "review")
MAXIMUM_FIELD_LENGTH = 4000
MAXIMUM_VALUES = 32
PERSON_FIELDS = {
    "identity": ("name", "date_of_birth"),
    "demographics": ("age", "gender", "language"),
    "contact": ("phone", "address"),
    "incident": ("gbv_type", "child_protection_concern", "trafficking_indicators", "incident_date"),
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class Form:
    """A form posted to a page: each field's values (at most ``MAXIMUM_VALUES``, each at most
    ``MAXIMUM_FIELD_LENGTH`` characters; a value holding NUL read as empty), once the session's
    CSRF token and the origin are checked."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    @classmethod
    async def of(cls, request: Request) -> "Form":
        posted = await request.form()
        values: dict[str, list[str]] = {}
        for key, value in posted.multi_items():
            if isinstance(value, str) and len(values.get(key, [])) < MAXIMUM_VALUES:
                kept = "" if "\x00" in value else value[:MAXIMUM_FIELD_LENGTH]
                values.setdefault(key, []).append(kept)
        check_csrf(request, {key: found[0] for key, found in values.items()})
        return cls(values)

    def get(self, key: str) -> str:
        """The first value, stripped ("" when absent)."""
        return next(iter(self.values.get(key, [])), "").strip()

    def all(self, key: str) -> list[str]:
        return [value.strip() for value in self.values.get(key, []) if value.strip()]

    def flag(self, key: str) -> bool:
        return self.get(key) in {"on", "yes", "true", "1"}


def _identifier(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _when(request: Request, instant: str | datetime | None) -> str:
    """A time as ``2026-12-05 14:03 UTC`` in the page's digits."""
    if instant is None:
        return ""
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return catalog(language_of(request)).numerals(text) + " UTC"


def _page(request: Request, template: str, **context: Any) -> Response:
    language = language_of(request)
    words_of = catalog(language)
    return app_page(
        request,
        template,
        need_label=lambda code: words_of(f"need.{code}"),
        distance=lambda metres: words.distance(words_of, metres),
        when=lambda instant: _when(request, instant),
        number=lambda value: words_of.numerals(str(value)),
        **context,
    )


def _not_found(
    request: Request, message: str = "problem.referral-not-found", back: str = SENT_PATH
) -> Response:
    """A referral (or, with its words and the page to go back to, a draft) that is not there."""
    return message_page(request, status_code=404, title="problem.title", message=message, back=back)


def _refused(request: Request, error: RelayError, back: str) -> Response:
    key, _ = problem_of(error)
    return message_page(
        request, status_code=error.status, title="problem.title", message=key, back=back
    )


def _problems_of(error: ValidationError, fields: Sequence[str]) -> list[Problem]:
    """A form's problems from a schema's: ``form.invalid`` naming each field found wrong."""
    wrong: list[str] = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        field = next((part for part in reversed(location) if part in fields), None)
        if field is None and location and location[0] == "contact":
            field = location[-1]
        if field is not None and field not in wrong:
            wrong.append(field)
    if not wrong:
        return [("refer.incomplete_step", {})]
    return [("refer.invalid", {"field": field}) for field in wrong]


# -- refer a case: the steps ----------------------------------------------------------------------


async def _place(session: AsyncSession, form: Form) -> tuple[dict[str, Any] | None, Problem | None]:
    """The place a form names: coordinates when both are given, else the areas chosen."""
    latitude, longitude = form.get("lat"), form.get("lon")
    if latitude or longitude:
        try:
            point = float(latitude.replace(",", ".")), float(longitude.replace(",", "."))
        except ValueError:
            return None, ("refer.place_invalid", {})
        if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            return None, ("refer.place_invalid", {})
        return {"latitude": point[0], "longitude": point[1]}, None
    chosen = [_identifier(value) for value in form.all("area")]
    areas = [value for value in chosen if value is not None]
    if not areas:
        return None, ("refer.place_missing", {})
    try:
        chain = await lookup.chosen_area(session, areas)
    except RelayError:
        return None, ("refer.place_invalid", {})
    return {"areas": [area.id for area in chain]}, None


async def _origin(session: AsyncSession, place: dict[str, Any]) -> tuple[Origin, list[Area]]:
    if "latitude" in place:
        latitude, longitude = float(place["latitude"]), float(place["longitude"])
        chain = await lookup.area_at(session, latitude, longitude)
        return Origin(latitude, longitude, chain[-1] if chain else None), chain
    chain = await lookup.chosen_area(session, [uuid.UUID(value) for value in place["areas"]])
    return await lookup.origin_of_area(session, chain[-1]), chain


def _step_path(draft_id: uuid.UUID, step: str) -> str:
    return f"{REFER_PATH}/{draft_id}/{step}"


async def _need_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    form: Form | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    chain: list[Area] = []
    if form is not None:
        place, _ = await _place(session, form)
        if place is not None and "areas" in place:
            chain = await lookup.chosen_area(session, [uuid.UUID(v) for v in place["areas"]])
    return _page(
        request,
        "app/referrals/need.html",
        status_code=422 if problems else 200,
        step="need",
        steps=STEPS,
        needs=NEED_CODES,
        chosen_needs=form.all("need") if form else [],
        urgent=form.flag("urgent") if form else False,
        lists=await lookup.picker(session, chain),
        # The form's own id: the draft it begins takes it, so posting it twice makes one draft.
        form_id=(form and _identifier(form.get("form_id"))) or uuid.uuid4(),
        latitude=form.get("lat") if form else "",
        longitude=form.get("lon") if form else "",
        problems=problems or [],
        drafts=await drafts.unsent(session, principal),
    )


@router.get("/refer", summary="Refer a case: what help is needed, where (HTML)")
async def refer(request: Request, session: SessionDep, principal: PersonPrincipal) -> Response:
    return await _need_page(request, session, principal)


@router.post("/refer", summary="Begin a referral (HTML form)")
async def begin(request: Request, session: SessionDep, principal: PersonPrincipal) -> Response:
    form = await Form.of(request)
    needs = [code for code in form.all("need") if code in NEED_CODES]
    problems: list[Problem] = []
    if not needs:
        problems.append(("results.choose_need", {}))
    place, place_problem = await _place(session, form)
    if place_problem is not None:
        problems.append(place_problem)
    if problems or place is None:
        return await _need_page(request, session, principal, form=form, problems=problems)
    priority = Priority.urgent if form.flag("urgent") else Priority.routine
    draft = await drafts.begin(
        session,
        _settings(request),
        principal,
        {"needs": needs, "priority": priority.value, "place": place},
        _identifier(form.get("form_id")),
    )
    return redirect(request, _step_path(draft.id, "services"))


# -- the steps of a draft: one GET and one POST route, each step a page and a recorder --------


@dataclass
class Here:
    """A step of one draft, for one request: who asks, the draft, where the steps are."""

    request: Request
    session: AsyncSession
    principal: Principal
    draft: Draft

    @property
    def settings(self) -> Settings:
        return _settings(self.request)

    def go(self, step: str) -> Response:
        return redirect(self.request, _step_path(self.draft.id, step))

    async def keep(self, answers: dict[str, Any]) -> None:
        self.draft = await drafts.update(
            self.session, self.settings, self.principal, self.draft.id, answers
        )

    def page(self, step: str, problems: list[Problem] | None = None, **context: Any) -> Response:
        return _page(
            self.request,
            f"app/referrals/{step}.html",
            status_code=context.pop("status_code", 422 if problems else 200),
            step=step,
            steps=STEPS,
            draft=self.draft,
            problems=problems or [],
            **context,
        )


def _draft_gone(request: Request) -> Response:
    return _not_found(request, "problem.draft-not-found", REFER_PATH)


async def _here(
    request: Request, session: AsyncSession, principal: Principal, draft_id: str
) -> Here | Response:
    """The draft's step, or the answer instead: not found (another person's, expired), or a
    draft already sent (a form sent again): its referral."""
    found = _identifier(draft_id)
    if found is None:
        return _draft_gone(request)
    try:
        draft = await drafts.load(session, _settings(request), principal, found)
    except DraftNotFound:
        return _draft_gone(request)
    if draft.sent:
        return redirect(request, f"/app/referrals/{draft.referral_id}")
    return Here(request, session, principal, draft)


def _before(draft: Draft, step: str) -> str | None:
    """The step to answer first, when ``step`` needs one not answered yet."""
    if step in {"consent", "person", "safety", "review"} and draft.service_id is None:
        return "services"
    if step in {"person", "safety"} and draft.profile is None:
        return "consent"
    return None


async def _services_page(here: Here, problems: list[Problem] | None = None) -> Response:
    origin, chain = await _origin(here.session, here.draft.content["place"])
    choices = await lookup.referral_choices(
        here.session,
        Viewer.of(here.principal),
        origin,
        list(here.draft.content["needs"]),
        language_of(here.request),
    )
    return here.page(
        "services",
        problems,
        origin=origin,
        choices=choices,
        chosen=str(here.draft.service_id) if here.draft.service_id else None,
        lists=await lookup.picker(here.session, chain),
        reach_km=lookup.REACH_M // 1000,
    )


async def _choose_service(here: Here, form: Form) -> Response:
    if form.get("action") == "place":
        place, problem = await _place(here.session, form)
        if place is None:
            return await _services_page(here, [problem or ("refer.place_invalid", {})])
        await here.keep({"place": place})
        return here.go("services")
    service_id = _identifier(form.get("service"))
    if service_id is None or await drafts.receiver_of(here.session, service_id) is None:
        return await _services_page(here, [("refer.service_missing", {})])
    answers: dict[str, Any] = {"service_id": str(service_id)}
    if here.draft.service_id != service_id:  # another receiver: the consent named the one before
        answers.update({"consent": None, "sharing_profile": None})
    await here.keep(answers)
    return here.go("consent")


def _whole_number(value: str) -> int | str | None:
    """A number typed in a form (the schemas take integers only): digits become one; anything
    else stays as typed, for the schema to refuse."""
    if not value:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else value


def _yes_no(value: object) -> str:
    return "yes" if value is True else "no" if value is False else ""


CONSENT_FIELDS = ("given_by", "relationship", "child_assent", "age", "method", "profile")


def _consent_values(draft: Draft) -> dict[str, str]:
    given: dict[str, Any] = dict(draft.content.get("consent") or {})
    return {
        "given_by": given.get("given_by", ""),
        "relationship": given.get("relationship") or "",
        "child_assent": _yes_no(given.get("child_assent")),
        "age": str(given["age_at_consent"]) if "age_at_consent" in given else "",
        "method": given.get("method", ""),
        "profile": draft.content.get("sharing_profile", ""),
    }


async def _consent_page(
    here: Here, values: dict[str, str] | None = None, problems: list[Problem] | None = None
) -> Response:
    chosen = await drafts.receiver(here.session, here.draft)
    if chosen is None:  # the service can no longer receive referrals: choose another
        return here.go("services")
    return here.page(
        "consent",
        problems,
        chosen=chosen,
        values=values or _consent_values(here.draft),
        givers=list(ConsentGiver),
        methods=list(ConsentMethod),
        profiles=drafts.profiles_for(chosen.kind),
        categories={profile: sorted(PROFILE_CATEGORIES[profile]) for profile in SharingProfile},
    )


async def _record_consent(here: Here, form: Form) -> Response:
    chosen = await drafts.receiver(here.session, here.draft)
    if chosen is None:
        return here.go("services")
    values = {key: form.get(key) for key in CONSENT_FIELDS}
    given: dict[str, Any] = {
        "given_by": values["given_by"],
        "relationship": values["relationship"] or None,
        "child_assent": {"yes": True, "no": False}.get(values["child_assent"]),
        "age_at_consent": _whole_number(values["age"]),
        "method": values["method"],
    }
    if values["profile"] not in {profile.value for profile in drafts.profiles_for(chosen.kind)}:
        return await _consent_page(here, values, [("refer.invalid", {"field": "profile"})])
    profile = SharingProfile(values["profile"])
    trial = Draft(
        here.draft.id, {**here.draft.content, "consent": given, "sharing_profile": profile}
    )
    try:
        drafts.consent_body(trial, here.principal, chosen.organization_id, chosen.kind)
    except DraftIncomplete as error:
        cause = error.__cause__
        problems = (
            _consent_problems(cause)
            if isinstance(cause, ValidationError)
            else [("refer.incomplete_step", {})]
        )
        return await _consent_page(here, values, problems)
    answers: dict[str, Any] = {"consent": given, "sharing_profile": profile.value}
    if profile.value != here.draft.content.get("sharing_profile"):
        # Another profile shares other categories: what it does not share is forgotten.
        answers.update(_keep_shared(here.draft, PROFILE_CATEGORIES[profile]))
    subject = dict(answers.get("subject", here.draft.content.get("subject")) or {})
    if DataCategory.demographics in PROFILE_CATEGORIES[profile] and "age" not in subject:
        answers["subject"] = {**subject, "age": given["age_at_consent"]}  # to start from
    await here.keep(answers)
    return here.go("person")


_CONSENT_SCHEMA_FIELDS = {
    "given_by": "given_by",
    "relationship": "relationship",
    "child_assent": "child_assent",
    "age_at_consent": "age",
    "method": "method",
}


def _consent_problems(error: ValidationError) -> list[Problem]:
    """The consent schema's refusals, by the form's fields (a rule across fields, such as a
    relationship needed when a carer consents, names the field it asks for)."""
    problems: list[Problem] = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        found = [
            _CONSENT_SCHEMA_FIELDS[part] for part in location if part in _CONSENT_SCHEMA_FIELDS
        ]
        message = str(item.get("msg", ""))
        named = [field for field in ("relationship", "child_assent") if field in message]
        problem: Problem = ("refer.invalid", {"field": (found or named or ["consent"])[0]})
        if problem not in problems:
            problems.append(problem)
    return problems or [("refer.incomplete_step", {})]


def _keep_shared(draft: Draft, shared: frozenset[Any]) -> dict[str, Any]:
    """The person's data the draft holds, narrowed to the categories ``shared``."""
    kept = {category.value for category in shared}
    subject = {
        name: value
        for name, value in dict(draft.content.get("subject") or {}).items()
        if any(name in PERSON_FIELDS[c] for c in kept if c in PERSON_FIELDS)
        or (name == "contact" and "contact" in kept)
    }
    return {
        "subject": subject or None,
        "reason": draft.content.get("reason") if "incident" in kept else None,
    }


def _categories(draft: Draft) -> list[str]:
    profile = draft.profile or SharingProfile.minimal
    return sorted(category.value for category in PROFILE_CATEGORIES[profile])


def _person_values(draft: Draft) -> dict[str, Any]:
    subject: dict[str, Any] = dict(draft.content.get("subject") or {})
    reason: dict[str, Any] = dict(draft.content.get("reason") or {})
    contact: dict[str, Any] = dict(subject.get("contact") or {})
    return {
        "name": subject.get("name", ""),
        "date_of_birth": subject.get("date_of_birth", ""),
        "age": str(subject["age"]) if subject.get("age") is not None else "",
        "gender": subject.get("gender", ""),
        "language": subject.get("language", ""),
        "phone": contact.get("phone", ""),
        "address": contact.get("address", ""),
        "gbv_type": reason.get("gbv_type", ""),
        "child_protection_concern": reason.get("child_protection_concern", ""),
        "trafficking_indicators": list(reason.get("trafficking_indicators") or []),
        "incident_date": reason.get("incident_date", ""),
    }


def _validated(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(
        mode="json", exclude_none=True, exclude_defaults=True
    )


def _person_page(
    here: Here, values: dict[str, Any] | None = None, problems: list[Problem] | None = None
) -> Response:
    return here.page(
        "person",
        problems,
        categories=_categories(here.draft),
        values=values or _person_values(here.draft),
        genders=list(Gender),
        spoken=LANGUAGES,
        gbv_types=list(GbvType),
        concerns=list(ChildProtectionConcern),
        indicators=list(TraffickingIndicator),
    )


async def _record_person(here: Here, form: Form) -> Response:
    # Only the fields of the categories the profile shares are read: no other is even shown.
    allowed = [
        name for category in _categories(here.draft) for name in PERSON_FIELDS.get(category, ())
    ]
    values: dict[str, Any] = {
        name: form.all(name) if name == "trafficking_indicators" else form.get(name)
        for name in allowed
    }
    subject: dict[str, Any] = {
        name: _whole_number(values[name]) if name == "age" else values[name]
        for name in ("name", "date_of_birth", "age", "gender", "language")
        if values.get(name)
    }
    contact = {name: values[name] for name in ("phone", "address") if values.get(name)}
    if contact:
        subject["contact"] = contact
    reason = {name: values[name] for name in PERSON_FIELDS["incident"] if values.get(name)}
    try:
        kept_subject, kept_reason = _validated(Subject, subject), _validated(Reason, reason)
    except ValidationError as error:
        shown = {**_person_values(here.draft), **values}
        return _person_page(here, shown, _problems_of(error, allowed))
    await here.keep({"subject": kept_subject or None, "reason": kept_reason or None})
    return here.go("safety")


def _safety_page(
    here: Here, values: dict[str, Any] | None = None, problems: list[Problem] | None = None
) -> Response:
    given: dict[str, Any] = dict(here.draft.content.get("safety") or {})
    return here.page(
        "safety",
        problems,
        values=values
        or {
            "do_not_contact_directly": bool(given.get("do_not_contact_directly")),
            "safe_channel": given.get("safe_channel", ""),
            "safe_times": given.get("safe_times", ""),
        },
        channels=list(ContactChannel),
    )


async def _record_safety(here: Here, form: Form) -> Response:
    values: dict[str, Any] = {
        "do_not_contact_directly": form.flag("do_not_contact_directly"),
        "safe_channel": form.get("safe_channel"),
        "safe_times": form.get("safe_times"),
    }
    try:
        kept = _validated(Safety, {key: value for key, value in values.items() if value})
    except ValidationError as error:
        return _safety_page(here, values, _problems_of(error, ["safe_channel", "safe_times"]))
    await here.keep({"safety": kept or None})
    return here.go("review")


async def _review_page(
    here: Here,
    problems: list[Problem] | None = None,
    *,
    status_code: int = 200,
    fix: str | None = None,
) -> Response:
    draft = here.draft
    return here.page(
        "review",
        problems,
        status_code=status_code,
        chosen=await drafts.receiver(here.session, draft),
        values=_person_values(draft),
        categories=_categories(draft),
        consent=dict(draft.content.get("consent") or {}),
        safety=dict(draft.content.get("safety") or {}),
        urgent=draft.content.get("priority") == Priority.urgent.value,
        fix=fix,
    )


async def _urgency(here: Here, form: Form) -> Response:
    priority = Priority.urgent if form.flag("urgent") else Priority.routine
    await here.keep({"priority": priority.value})
    return here.go("review")


async def _send(here: Here, form: Form) -> Response:
    try:
        referral_id = await drafts.send(here.session, here.settings, here.principal, here.draft.id)
    except DraftNotFound:
        return _draft_gone(here.request)
    except DraftIncomplete as error:
        return await _review_page(here, [("refer.incomplete", {})], status_code=422, fix=error.step)
    except RelayError as error:
        # The service refused (no room now, not eligible, the consent does not cover it):
        # nothing was written; the draft stays as it was, to choose another service.
        return await _review_page(
            here, [problem_of(error)], status_code=error.status, fix="services"
        )
    return redirect(here.request, f"/app/referrals/{referral_id}?sent=1")


async def _discard(here: Here, form: Form) -> Response:
    await drafts.discard(here.session, here.principal, here.draft.id)
    return redirect(here.request, REFER_PATH)


Page = Callable[[Here], Awaitable[Response] | Response]
PAGES: dict[str, Page] = {
    "services": _services_page,
    "consent": _consent_page,
    "person": _person_page,
    "safety": _safety_page,
    "review": _review_page,
}
ACTIONS: dict[str, Callable[[Here, Form], Awaitable[Response]]] = {
    "services": _choose_service,
    "consent": _record_consent,
    "person": _record_person,
    "safety": _record_safety,
    "urgency": _urgency,
    "send": _send,
    "discard": _discard,
}


async def _at(
    request: Request, session: AsyncSession, principal: Principal, draft_id: str, step: str
) -> Here | Response:
    """The draft at ``step`` (a page or a form), or the answer instead: the draft not found,
    sent already, or a step to answer first."""
    here = await _here(request, session, principal, draft_id)
    if isinstance(here, Response):
        return here
    if step not in PAGES and step not in ACTIONS:
        return _draft_gone(request)
    first = _before(here.draft, step)
    return here.go(first) if first is not None else here


@router.get("/refer/{draft_id}/{step}", summary="Refer a case: one step of the draft (HTML)")
async def step_page(
    draft_id: str, step: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    here = await _at(request, session, principal, draft_id, step)
    if isinstance(here, Response):
        return here
    if step not in PAGES:
        return _draft_gone(request)
    shown = PAGES[step](here)
    return await shown if isinstance(shown, Awaitable) else shown


@router.post("/refer/{draft_id}/{action}", summary="Refer a case: answer a step (HTML form)")
async def step_action(
    draft_id: str, action: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    here = await _at(request, session, principal, draft_id, action)
    if isinstance(here, Response):
        return here
    if action not in ACTIONS:
        return _draft_gone(request)
    return await ACTIONS[action](here, form)


# -- the lists ------------------------------------------------------------------------------------


@router.get("/sent", summary="The referrals the organisation sent (HTML)")
async def sent_list(request: Request, session: SessionDep, principal: PersonPrincipal) -> Response:
    try:
        lines = await workspace.sent(session, principal)
    except RelayError as error:
        return _refused(request, error, "/app")
    return _page(
        request,
        "app/referrals/sent.html",
        lines=lines,
        now=datetime.now(UTC),
        overdue=workspace.overdue,
        mine=principal.acting_user,
    )


@router.get("/inbox", summary="The referrals the organisation received (HTML)")
async def inbox(request: Request, session: SessionDep, principal: PersonPrincipal) -> Response:
    try:
        working, closed = await workspace.inbox(session, principal)
    except RelayError as error:
        return _refused(request, error, "/app")
    counts = await workspace.counts(session, principal)
    return _page(
        request,
        "app/referrals/inbox.html",
        working=working,
        closed=closed,
        counts=counts,
        now=datetime.now(UTC),
        overdue=workspace.overdue,
    )


# -- one referral ---------------------------------------------------------------------------------


ReadT = TypeVar("ReadT")


async def _read_referral(
    request: Request, found: uuid.UUID | None, read: Callable[[uuid.UUID], Awaitable[ReadT]]
) -> ReadT | Response:
    """What ``read`` gives of the referral ``found``, or the page saying why not: not found (an
    address naming none, or a referral the person's organisation is not a party to) or refused."""
    if found is None:
        return _not_found(request)
    try:
        return await read(found)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return _refused(request, error, "/app")


async def _case_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID | None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    settings = _settings(request)
    case = await _read_referral(
        request, referral_id, lambda found: workspace.case_file(session, settings, principal, found)
    )
    if isinstance(case, Response):
        return case
    return _page(
        request,
        "app/referrals/case.html",
        status_code=status_code,
        case=case,
        referral=case.referral,
        problems=problems or [],
        just_sent=request.query_params.get("sent") == "1",
        outcomes=list(Outcome),
        reads_personal_data=principal.reads_personal_data,
    )


@router.get("/referrals/{referral_id}", summary="One referral, as the person's side sees it")
async def case(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    return await _case_page(request, session, principal, _identifier(referral_id))


async def _on_case(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: Callable[[Form], BaseModel],
    change: Callable[[uuid.UUID, Any], Awaitable[object]],
    fields: Sequence[str],
) -> Response:
    """A form of the case file: its body (a schema of the API's), the service's change, then
    the case file again (``?done=``), or with what went wrong."""
    form = await Form.of(request)
    found = _identifier(referral_id)
    if found is None:
        return _not_found(request)
    try:
        parsed = body(form)
    except ValidationError as error:
        problems = _problems_of(error, fields)
        return await _case_page(request, session, principal, found, problems, 422)
    try:
        await change(found, parsed)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return await _case_page(
            request, session, principal, found, [problem_of(error)], error.status
        )
    return redirect(request, f"/app/referrals/{found}?done=1")


@router.post("/referrals/{referral_id}/status", summary="Move the referral in its loop (form)")
async def move(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    def body(form: Form) -> StatusChange:
        fields = {key: form.get(key) or None for key in ("status", "reason", "outcome", "note")}
        return StatusChange.model_validate(fields)

    async def change(found: uuid.UUID, parsed: StatusChange) -> object:
        return await referral_service.change_status(
            session, _settings(request), principal, found, parsed
        )

    return await _on_case(
        request, session, principal, referral_id, body, change, ["status", "reason", "outcome"]
    )


@router.post("/referrals/{referral_id}/notes", summary="Add a note to the referral (form)")
async def note(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    def body(form: Form) -> NoteCreate:
        return NoteCreate.model_validate({"note": form.get("note")})

    async def change(found: uuid.UUID, parsed: NoteCreate) -> object:
        return await referral_service.add_note(
            session, _settings(request), principal, found, parsed
        )

    return await _on_case(request, session, principal, referral_id, body, change, ["note"])


@router.get("/referrals/{referral_id}/fhir", summary="The referral as a FHIR R4 Bundle (file)")
async def fhir_export(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    settings = _settings(request)
    asked = _identifier(referral_id)
    exported = await _read_referral(
        request, asked, lambda found: referral_service.export(session, settings, principal, found)
    )
    if isinstance(exported, Response):
        return exported
    document = fhir.bundle(
        exported.view,
        exported.events,
        exported.sender,
        exported.receiver,
        exported.consent,
        datetime.now(UTC),
    )
    return Response(
        json.dumps(document, ensure_ascii=False),
        media_type="application/fhir+json",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="referral-{asked}.fhir.json"',
            "X-Content-Type-Options": "nosniff",
        },
    )
