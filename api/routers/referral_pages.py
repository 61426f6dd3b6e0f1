"""The referral workspace's pages (issue 21): refer a case in steps, the sender's list, the
receiving organisation's inbox, and one referral's case file with the moves its side may make.

Every page needs a signed-in person (``PersonPrincipal``) and calls the services the API calls
(``api.services.referrals``: drafts, workspace, transitions), so the pages and the API cannot
drift apart: a volunteer sees no person's data after sending because the service withholds it,
not because a template leaves it out. A person's data never goes into a URL or a title: forms
post it, and the draft keeps it sealed on the server (``drafts``). Pages carry
``Cache-Control: no-store`` (``app_page``).
"""

import contextlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
from api.web.session import PersonPrincipal, check_csrf

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)

REFER_PATH = "/app/refer"
INBOX_PATH = "/app/inbox"
SENT_PATH = "/app/sent"
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


def _not_found(request: Request) -> Response:
    return message_page(
        request,
        status_code=404,
        title="problem.title",
        message="problem.referral-not-found",
        back=SENT_PATH,
    )


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
    )
    return redirect(request, _step_path(draft.id, "services"))


async def _draft(
    request: Request, session: AsyncSession, principal: Principal, draft_id: str
) -> Draft | None:
    found = _identifier(draft_id)
    if found is None:
        return None
    try:
        return await drafts.load(session, _settings(request), principal, found)
    except DraftNotFound:
        return None


def _draft_gone(request: Request) -> Response:
    return message_page(
        request,
        status_code=404,
        title="problem.title",
        message="problem.draft-not-found",
        back=REFER_PATH,
    )


async def _services_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    draft: Draft,
    problems: list[Problem] | None = None,
) -> Response:
    origin, chain = await _origin(session, draft.content["place"])
    choices = await lookup.referral_choices(
        session,
        Viewer.of(principal),
        origin,
        list(draft.content["needs"]),
        language_of(request),
    )
    return _page(
        request,
        "app/referrals/services.html",
        status_code=422 if problems else 200,
        step="services",
        steps=STEPS,
        draft=draft,
        origin=origin,
        choices=choices,
        chosen=str(draft.service_id) if draft.service_id else None,
        lists=await lookup.picker(session, chain),
        problems=problems or [],
        reach_km=lookup.REACH_M // 1000,
    )


@router.get("/refer/{draft_id}/services", summary="Refer a case: the nearest services (HTML)")
async def services(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    return await _services_page(request, session, principal, draft)


def _sent(request: Request, draft: Draft) -> Response:
    """A draft already sent: its referral (a form sent again lands there too)."""
    return redirect(request, f"/app/referrals/{draft.referral_id}")


@router.post("/refer/{draft_id}/services", summary="Choose the service, or another place")
async def choose_service(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    settings = _settings(request)
    if form.get("action") == "place":
        place, problem = await _place(session, form)
        if place is None:
            return await _services_page(
                request, session, principal, draft, [problem or ("refer.place_invalid", {})]
            )
        await drafts.update(session, settings, principal, draft.id, {"place": place})
        return redirect(request, _step_path(draft.id, "services"))
    service_id = _identifier(form.get("service"))
    if service_id is None:
        return await _services_page(
            request, session, principal, draft, [("refer.service_missing", {})]
        )
    changed = draft.service_id != service_id
    answers: dict[str, Any] = {"service_id": str(service_id)}
    if changed:  # another receiver: the consent named the one before
        answers.update({"consent": None, "sharing_profile": None})
    await drafts.update(session, settings, principal, draft.id, answers)
    return redirect(request, _step_path(draft.id, "consent"))


async def _receiver_or_back(
    request: Request, session: AsyncSession, draft: Draft
) -> tuple[Any, Response | None]:
    chosen = await drafts.receiver(session, draft)
    if chosen is None:
        return None, redirect(request, _step_path(draft.id, "services"))
    return chosen, None


def _whole_number(value: str) -> int | str | None:
    """A number typed in a form (the schemas take integers only): digits become one; anything
    else stays as typed, for the schema to refuse."""
    if not value:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else value


def _yes_no(value: object) -> str:
    return "yes" if value is True else "no" if value is False else ""


def _consent_form(draft: Draft, form: Form | None) -> dict[str, Any]:
    given: dict[str, Any] = dict(draft.content.get("consent") or {})
    if form is None:
        return {
            "given_by": given.get("given_by", ""),
            "relationship": given.get("relationship") or "",
            "child_assent": _yes_no(given.get("child_assent")),
            "age": str(given["age_at_consent"]) if "age_at_consent" in given else "",
            "method": given.get("method", ""),
            "profile": draft.content.get("sharing_profile", ""),
        }
    return {
        key: form.get(key)
        for key in ("given_by", "relationship", "child_assent", "age", "method", "profile")
    }


@router.get("/refer/{draft_id}/consent", summary="Refer a case: the consent (HTML)")
async def consent(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    chosen, back = await _receiver_or_back(request, session, draft)
    if back is not None:
        return back
    return _consent_page(request, draft, chosen, _consent_form(draft, None))


def _consent_page(
    request: Request,
    draft: Draft,
    chosen: Any,
    values: dict[str, Any],
    problems: list[Problem] | None = None,
) -> Response:
    return _page(
        request,
        "app/referrals/consent.html",
        status_code=422 if problems else 200,
        step="consent",
        steps=STEPS,
        draft=draft,
        chosen=chosen,
        values=values,
        givers=list(ConsentGiver),
        methods=list(ConsentMethod),
        profiles=drafts.profiles_for(chosen.kind),
        categories={profile: sorted(PROFILE_CATEGORIES[profile]) for profile in SharingProfile},
        problems=problems or [],
    )


@router.post("/refer/{draft_id}/consent", summary="Record the consent in the draft")
async def record_consent(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    chosen, back = await _receiver_or_back(request, session, draft)
    if back is not None:
        return back
    values = _consent_form(draft, form)
    profiles = drafts.profiles_for(chosen.kind)
    problems: list[Problem] = []
    if values["profile"] not in {profile.value for profile in profiles}:
        problems.append(("refer.invalid", {"field": "profile"}))
    given: dict[str, Any] = {
        "given_by": values["given_by"],
        "relationship": values["relationship"] or None,
        "child_assent": {"yes": True, "no": False}.get(values["child_assent"]),
        "age_at_consent": _whole_number(values["age"]),
        "method": values["method"],
    }
    if not problems:
        trial = Draft(
            draft.id, {**draft.content, "consent": given, "sharing_profile": values["profile"]}
        )
        try:
            drafts.consent_body(trial, principal, chosen.organization_id, chosen.kind)
        except DraftIncomplete as error:
            cause = error.__cause__
            if isinstance(cause, ValidationError):
                problems = _consent_problems(cause)
            else:
                problems = [("refer.incomplete_step", {})]
    if problems:
        return _consent_page(request, draft, chosen, values, problems)
    answers: dict[str, Any] = {"consent": given, "sharing_profile": values["profile"]}
    if values["profile"] != draft.content.get("sharing_profile"):
        # Another profile shares other categories: what it does not share is forgotten.
        shared = PROFILE_CATEGORIES[SharingProfile(values["profile"])]
        answers.update(_keep_shared(draft, shared))
    shares_age = DataCategory.demographics in PROFILE_CATEGORIES[SharingProfile(values["profile"])]
    subject = dict(answers.get("subject", draft.content.get("subject")) or {})
    if shares_age and "age" not in subject:  # the age given for the consent, to start from
        answers["subject"] = {**subject, "age": int(values["age"])}
    await drafts.update(session, _settings(request), principal, draft.id, answers)
    return redirect(request, _step_path(draft.id, "person"))


_CONSENT_FIELDS = {
    "given_by": "given_by",
    "relationship": "relationship",
    "child_assent": "child_assent",
    "age_at_consent": "age",
    "method": "method",
}


def _consent_problems(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        field = next((_CONSENT_FIELDS[p] for p in location if p in _CONSENT_FIELDS), None)
        message = str(item.get("msg", ""))
        if field is None and "relationship" in message:
            field = "relationship"
        if field is None and "child_assent" in message:
            field = "child_assent"
        problem: Problem = ("refer.invalid", {"field": field or "consent"})
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


def _person_page(
    request: Request, draft: Draft, values: dict[str, Any], problems: list[Problem] | None = None
) -> Response:
    return _page(
        request,
        "app/referrals/person.html",
        status_code=422 if problems else 200,
        step="person",
        steps=STEPS,
        draft=draft,
        categories=_categories(draft),
        values=values,
        genders=list(Gender),
        spoken=LANGUAGES,
        gbv_types=list(GbvType),
        concerns=list(ChildProtectionConcern),
        indicators=list(TraffickingIndicator),
        problems=problems or [],
    )


@router.get("/refer/{draft_id}/person", summary="Refer a case: the person's data (HTML)")
async def person(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    if draft.profile is None:
        return redirect(request, _step_path(draft.id, "consent"))
    return _person_page(request, draft, _person_values(draft))


def _validated(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(
        mode="json", exclude_none=True, exclude_defaults=True
    )


@router.post("/refer/{draft_id}/person", summary="Keep the person's data in the draft")
async def record_person(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    if draft.profile is None:
        return redirect(request, _step_path(draft.id, "consent"))
    categories = _categories(draft)
    # Only the fields of the categories the profile shares are read: no other is even shown.
    allowed = {name for c in categories if c in PERSON_FIELDS for name in PERSON_FIELDS[c]}
    values = {
        name: form.all(name) if name == "trafficking_indicators" else form.get(name)
        for name in allowed
    }
    subject: dict[str, Any] = {
        name: values[name]
        for name in ("name", "date_of_birth", "age", "gender", "language")
        if values.get(name)
    }
    if "age" in subject:
        subject["age"] = _whole_number(subject["age"])
    contact = {name: values[name] for name in ("phone", "address") if values.get(name)}
    if contact:
        subject["contact"] = contact
    reason: dict[str, Any] = {
        name: values[name] for name in PERSON_FIELDS["incident"] if values.get(name)
    }
    try:
        kept_subject = _validated(Subject, subject)
        kept_reason = _validated(Reason, reason)
    except ValidationError as error:
        shown = {**_person_values(draft), **values}
        return _person_page(request, draft, shown, _problems_of(error, sorted(allowed)))
    await drafts.update(
        session,
        _settings(request),
        principal,
        draft.id,
        {"subject": kept_subject or None, "reason": kept_reason or None},
    )
    return redirect(request, _step_path(draft.id, "safety"))


def _safety_page(
    request: Request, draft: Draft, values: dict[str, Any], problems: list[Problem] | None = None
) -> Response:
    return _page(
        request,
        "app/referrals/safety.html",
        status_code=422 if problems else 200,
        step="safety",
        steps=STEPS,
        draft=draft,
        values=values,
        channels=list(ContactChannel),
        problems=problems or [],
    )


@router.get("/refer/{draft_id}/safety", summary="Refer a case: safety instructions (HTML)")
async def safety(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    if draft.profile is None:
        return redirect(request, _step_path(draft.id, "consent"))
    given: dict[str, Any] = dict(draft.content.get("safety") or {})
    values = {
        "do_not_contact_directly": bool(given.get("do_not_contact_directly")),
        "safe_channel": given.get("safe_channel", ""),
        "safe_times": given.get("safe_times", ""),
    }
    return _safety_page(request, draft, values)


@router.post("/refer/{draft_id}/safety", summary="Keep the safety instructions in the draft")
async def record_safety(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    values: dict[str, Any] = {
        "do_not_contact_directly": form.flag("do_not_contact_directly"),
        "safe_channel": form.get("safe_channel"),
        "safe_times": form.get("safe_times"),
    }
    given = {key: value for key, value in values.items() if value}
    try:
        kept = _validated(Safety, given)
    except ValidationError as error:
        problems = _problems_of(error, ["safe_channel", "safe_times"])
        return _safety_page(request, draft, values, problems)
    await drafts.update(session, _settings(request), principal, draft.id, {"safety": kept or None})
    return redirect(request, _step_path(draft.id, "review"))


async def _review_page(
    request: Request,
    session: AsyncSession,
    draft: Draft,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    fix: str | None = None,
) -> Response:
    return _page(
        request,
        "app/referrals/review.html",
        status_code=status_code,
        step="review",
        steps=STEPS,
        draft=draft,
        chosen=await drafts.receiver(session, draft),
        values=_person_values(draft),
        categories=_categories(draft),
        consent=dict(draft.content.get("consent") or {}),
        safety=dict(draft.content.get("safety") or {}),
        urgent=draft.content.get("priority") == Priority.urgent.value,
        problems=problems or [],
        fix=fix,
    )


@router.get("/refer/{draft_id}/review", summary="Refer a case: review and send (HTML)")
async def review(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    return await _review_page(request, session, draft)


@router.post("/refer/{draft_id}/urgency", summary="Mark the referral urgent, or not")
async def urgency(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    draft = await _draft(request, session, principal, draft_id)
    if draft is None or draft.sent:
        return _draft_gone(request) if draft is None else _sent(request, draft)
    priority = Priority.urgent if form.flag("urgent") else Priority.routine
    await drafts.update(
        session, _settings(request), principal, draft.id, {"priority": priority.value}
    )
    return redirect(request, _step_path(draft.id, "review"))


@router.post("/refer/{draft_id}/send", summary="Send the referral (once, however often posted)")
async def send(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    await Form.of(request)
    found = _identifier(draft_id)
    if found is None:
        return _draft_gone(request)
    try:
        referral_id = await drafts.send(session, _settings(request), principal, found)
    except DraftNotFound:
        return _draft_gone(request)
    except DraftIncomplete as error:
        draft = await drafts.load(session, _settings(request), principal, found)
        return await _review_page(
            request,
            session,
            draft,
            [("refer.incomplete", {})],
            status_code=422,
            fix=error.step,
        )
    except RelayError as error:
        # The service refused (no room now, not eligible, the consent does not cover it):
        # nothing was written; the draft stays as it was, to choose another service.
        draft = await drafts.load(session, _settings(request), principal, found)
        return await _review_page(
            request,
            session,
            draft,
            [problem_of(error)],
            status_code=error.status,
            fix="services",
        )
    return redirect(request, f"/app/referrals/{referral_id}?sent=1")


@router.post("/refer/{draft_id}/discard", summary="Forget a referral not sent")
async def discard(
    draft_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    await Form.of(request)
    found = _identifier(draft_id)
    if found is not None:
        with contextlib.suppress(DraftNotFound):
            await drafts.discard(session, principal, found)
    return redirect(request, REFER_PATH)


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


async def _case_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID,
    problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        case = await workspace.case_file(session, _settings(request), principal, referral_id)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return _refused(request, error, "/app")
    return _page(
        request,
        "app/referrals/case.html",
        status_code=status_code,
        case=case,
        referral=case.referral,
        problems=problems or [],
        just_sent=request.query_params.get("sent") == "1",
        done=request.query_params.get("done"),
        outcomes=list(Outcome),
        reads_personal_data=principal.reads_personal_data,
    )


@router.get("/referrals/{referral_id}", summary="One referral, as the person's side sees it")
async def case(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    found = _identifier(referral_id)
    if found is None:
        return _not_found(request)
    return await _case_page(request, session, principal, found)


@router.post("/referrals/{referral_id}/status", summary="Move the referral in its loop (form)")
async def move(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    found = _identifier(referral_id)
    if found is None:
        return _not_found(request)
    try:
        change = StatusChange.model_validate(
            {
                "status": form.get("status"),
                "reason": form.get("reason") or None,
                "outcome": form.get("outcome") or None,
                "note": form.get("note") or None,
            }
        )
    except ValidationError as error:
        problems = _problems_of(error, ["status", "reason", "outcome", "note"])
        return await _case_page(request, session, principal, found, problems, 422)
    try:
        await referral_service.change_status(session, _settings(request), principal, found, change)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return await _case_page(
            request, session, principal, found, [problem_of(error)], error.status
        )
    return redirect(request, f"/app/referrals/{found}?done=status")


@router.post("/referrals/{referral_id}/notes", summary="Add a note to the referral (form)")
async def note(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await Form.of(request)
    found = _identifier(referral_id)
    if found is None:
        return _not_found(request)
    try:
        body = NoteCreate.model_validate({"note": form.get("note")})
    except ValidationError as error:
        problems = _problems_of(error, ["note"])
        return await _case_page(request, session, principal, found, problems, 422)
    try:
        await referral_service.add_note(session, _settings(request), principal, found, body)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return await _case_page(
            request, session, principal, found, [problem_of(error)], error.status
        )
    return redirect(request, f"/app/referrals/{found}?done=note")


@router.get("/referrals/{referral_id}/fhir", summary="The referral as a FHIR R4 Bundle (file)")
async def fhir_export(
    referral_id: str, request: Request, session: SessionDep, principal: PersonPrincipal
) -> Response:
    found = _identifier(referral_id)
    if found is None:
        return _not_found(request)
    try:
        exported = await referral_service.export(session, _settings(request), principal, found)
    except ReferralNotFound:
        return _not_found(request)
    except RelayError as error:
        return _refused(request, error, "/app")
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
            "Content-Disposition": f'attachment; filename="referral-{found}.fhir.json"',
            "X-Content-Type-Options": "nosniff",
        },
    )
