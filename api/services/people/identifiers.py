"""How people are named: a login name or an E.164 phone number (many volunteers have no
e-mail), a display name, a preferred language. What is typed is normalised here, once, before
it is stored or looked up."""

import re
import unicodedata
from dataclasses import dataclass

from api.languages import LANGUAGES
from api.models.people import LOGIN_NAME_PATTERN, PHONE_PATTERN
from api.services.people.errors import InvalidDisplayName, InvalidLanguage, InvalidLogin

_LOGIN_NAME = re.compile(LOGIN_NAME_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
MAXIMUM_DISPLAY_NAME = 100


@dataclass(frozen=True)
class Login:
    """A normalised login: exactly one of the two is set."""

    login_name: str | None = None
    phone: str | None = None

    @property
    def canonical(self) -> str:
        return self.login_name or self.phone or ""


def login_name(typed: str) -> str:
    name = unicodedata.normalize("NFKC", typed).strip().lower()
    if not _LOGIN_NAME.fullmatch(name):
        raise InvalidLogin(
            "A login name is 3 to 64 letters (a-z), digits, dots, dashes or underscores, "
            "starting with a letter or a digit."
        )
    return name


def phone(typed: str) -> str:
    number = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", typed).strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _PHONE.fullmatch(number):
        raise InvalidLogin(
            "A phone number is written with its country code: +, then 7 to 15 digits."
        )
    return number


def parse_login(typed: str) -> Login | None:
    """What a person typed to sign in: a phone number when it starts with +, else a login name
    (or, failing that, a phone number written with 00); None when it can be neither."""
    text = typed.strip()
    if len(text) > 128:
        return None
    readings = (phone,) if text.startswith("+") else (login_name, phone)
    for reading in readings:
        try:
            value = reading(text)
        except InvalidLogin:
            continue
        return Login(phone=value) if reading is phone else Login(login_name=value)
    return None


def display_name(typed: str) -> str:
    name = " ".join(unicodedata.normalize("NFKC", typed).split())
    if not 1 <= len(name) <= MAXIMUM_DISPLAY_NAME or any(
        unicodedata.category(character).startswith("C") for character in name
    ):
        raise InvalidDisplayName(f"A display name is 1 to {MAXIMUM_DISPLAY_NAME} characters.")
    return name


def language(code: str) -> str:
    if code not in LANGUAGES:
        raise InvalidLanguage("The language is one of " + ", ".join(LANGUAGES) + ".")
    return code
