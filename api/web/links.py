"""The links of a service card, each the right one for what it reaches.

A voice line is ``tel:``, an SMS line ``sms:`` and a WhatsApp line ``https://wa.me/<digits>``
(see ``api.services.lookup.Channel`` for how the directory says which), both with a short
greeting from the catalogue (``contact.message``) already typed: never anything of the person.
A place whose position is public has a ``geo:`` link (RFC 5870; ``q`` asks Android's maps
apps to drop a pin there), which phones hand to their maps app; a confidential place has none,
since its card has no ``position``. These are links the person follows, not resources a page
loads: the page itself still loads nothing from another host.
"""

from dataclasses import dataclass
from urllib.parse import quote

from api.services.lookup import Card, Channel, Phone
from api.web.i18n import Catalog

WHATSAPP = "https://wa.me/"
# What a link is called on a card (its CSS class) for each channel; a fax is not linked.
KINDS = {Channel.voice: "call", Channel.sms: "sms", Channel.whatsapp: "whatsapp"}


@dataclass(frozen=True)
class Link:
    kind: str  # call, sms, whatsapp, directions
    href: str
    label: str
    number: str | None = None


def _contact(words: Catalog, phone: Phone) -> Link | None:
    kind = KINDS.get(phone.channel)
    if kind is None:
        return None
    label = words(f"result.{kind}", number=phone.number)
    message = quote(words("contact.message"), safe="")
    if phone.channel is Channel.sms:
        return Link(kind, f"sms:{phone.tel}?body={message}", label, phone.number)
    if phone.channel is Channel.whatsapp:
        return Link(kind, f"{WHATSAPP}{phone.digits}?text={message}", label, phone.number)
    return Link(kind, f"tel:{phone.tel}", label, phone.number)


def contacts(words: Catalog, card: Card) -> list[Link]:
    """A link for each number of the card that can be called or written to, calls first."""
    return [link for phone in card.phones if (link := _contact(words, phone)) is not None]


def faxes(card: Card) -> list[str]:
    return [phone.number for phone in card.phones if phone.channel is Channel.fax]


def _coordinate(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def directions(words: Catalog, card: Card) -> Link | None:
    """The ``geo:`` link to the place, or None when its position is not public."""
    if card.position is None or card.redacted:
        return None
    latitude, longitude = (_coordinate(value) for value in card.position)
    point = f"{latitude},{longitude}"
    return Link("directions", f"geo:{point}?q={point}", words("result.directions"))
