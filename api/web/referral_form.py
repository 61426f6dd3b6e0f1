"""The printable referral form (issue 21): a referral as ``services.referrals.printable`` gives
it, in the reader's language, with human labels rather than the API's keys, on one A4 page.

Every label and every coded value is a message of the catalogues (``form.<field>`` and
``form.<field>.<code>``); ``ENUMERATIONS`` names the enumeration each coded field takes its
codes from, so a test checks every code of each has words in every language. What the form
shows is what the service gives: it has no rule of its own about whom it shows what.

``render_referral_form`` is the one entry: the API's export (``format=html``) and the app's
page (``/app/referrals/{id}/form``) both answer with what it returns.
"""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from api.models.directory import Gender
from api.models.organization import OrganizationKind
from api.models.referral import (
    ConsentGiver,
    ConsentMethod,
    ConsentPurpose,
    DataCategory,
    Priority,
    ReferralStatus,
    SharingProfile,
)
from api.schemas.referrals import (
    ChildProtectionConcern,
    ConsentState,
    ContactChannel,
    GbvType,
    TraffickingIndicator,
    WithheldBecause,
)
from api.services.referrals import Printable
from api.web import assets
from api.web.i18n import LANGUAGES, Catalog, catalog
from api.web.render import environment

TEMPLATE = "referral_form.html"
# The coded fields of the form and the enumeration of their codes: ``form.<field>.<code>``.
ENUMERATIONS: dict[str, type[StrEnum]] = {
    "priority": Priority,
    "status": ReferralStatus,
    "sharing_profile": SharingProfile,
    "withheld": WithheldBecause,
    "gender": Gender,
    "gbv_type": GbvType,
    "child_protection_concern": ChildProtectionConcern,
    "trafficking_indicators": TraffickingIndicator,
    "safe_channel": ContactChannel,
    "consent_state": ConsentState,
    "given_by": ConsentGiver,
    "method": ConsentMethod,
    "purposes": ConsentPurpose,
    "shared": DataCategory,
    "recipient_kinds": OrganizationKind,
}


class Words:
    """The form's words in one language: labels, coded values, dates and times."""

    def __init__(self, words: Catalog) -> None:
        self.words = words

    def __call__(self, field: str, code: str | None = None) -> str:
        """The label of ``field``, or the words of one of its codes."""
        if code is None:
            return self.words(f"form.{field}")
        assert field in ENUMERATIONS, field
        return self.words(f"form.{field}.{code}")

    def each(self, field: str, codes: list[str]) -> list[str]:
        """The words of each code (joined by the template)."""
        return [self(field, code) for code in codes]

    def yes_no(self, value: bool | None) -> str:
        if value is None:
            return self.words("form.not_recorded")
        return self.words("form.yes" if value else "form.no")

    def day(self, value: str | date | datetime) -> str:
        written = value.isoformat() if isinstance(value, date | datetime) else value
        return self.words.numerals(written[:10])

    def moment(self, value: str | datetime) -> str:
        """A time as UTC, to the minute (``2026-12-05 14:05 UTC``), in the language's digits."""
        written = value.isoformat() if isinstance(value, datetime) else value
        return self.words.numerals(written[:16].replace("T", " ")) + " UTC"

    def language(self, code: str) -> str:
        """A person's language: its name when Relay speaks it, else its code."""
        return catalog(code).name if code in LANGUAGES else code


def render_referral_form(form: Printable, language: str, *, back: str | None = None) -> str:
    """The form as an HTML document in ``language`` (one of ``LANGUAGES``); ``back``: a link
    back to the page it was opened from (the app's), left out of the print."""
    words = catalog(language)
    context: dict[str, Any] = {
        "lang": language,
        "t": words,
        "f": Words(words),
        "asset": assets.url,
        "need_label": lambda code: words(f"need.{code}"),
        "form": form,
        "view": form.export.view,
        "sender": form.export.sender,
        "receiver": form.export.receiver,
        "back": back,
        "today": words.numerals(datetime.now(UTC).date().isoformat()),
    }
    return environment().get_template(TEMPLATE).render(**context)
