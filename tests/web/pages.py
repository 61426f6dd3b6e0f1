"""Helpers for the lookup pages' tests: the demo network's places, and reading HTML."""

import re
import uuid
from html.parser import HTMLParser

from api.services.demo import NAMESPACE


def demo_id(*parts: str) -> str:
    """An id of the demo network (api/services/demo.py names its rows the same way)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


REGION = demo_id("area", "region")
KOUNDA = demo_id("area", "kounda")
SABALI = demo_id("area", "sabali")
MBAYENE = demo_id("area", "mbayene")
KOUNDA_POST_RAPE_CARE = demo_id("service", "health-kounda-prc")
KOUNDA_MOTHERS = demo_id("service", "health-kounda-mch")
SHELTER_SERVICE = demo_id("service", "safe-shelter")
KOUNDA_HEALTH_CENTRE = demo_id("organization", "health-kounda")
# The demo's lines other than voice (demo_network.toml, ``more_phones``).
HOTLINE = demo_id("service", "hotline")  # a voice number and a WhatsApp line
HOTLINE_WHATSAPP = "+221300009002"
PSYCHOSOCIAL = demo_id("service", "psychosocial")  # a voice number and an SMS-only line
PSYCHOSOCIAL_SMS = "+221300009001"
# The shelter's real position and address (demo.py): what no anonymous page may show.
SHELTER_LATITUDE, SHELTER_LONGITUDE = 14.03, -16.02


class Page(HTMLParser):
    """The parts of a page the tests read: elements with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.html = html
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {key: value or "" for key, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.texts))

    def all(self, tag: str, **attributes: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and all(attrs.get(key) == value for key, value in attributes.items())
        ]

    def card(self, service: str) -> "Page":
        """The card of one service (its first), parsed alone."""
        match = re.search(rf'<li class="card" data-service="{service}">.*?</li>', self.html, re.S)
        assert match, f"no card of {service}"
        return Page(match.group(0))

    def step(self, need: str) -> "Page":
        """The pathway's row of one need, parsed alone."""
        match = re.search(rf'<tr data-need="{need}">.*?</tr>', self.html, re.S)
        assert match, f"no step for {need}"
        return Page(match.group(0))

    def services(self) -> list[str]:
        """The ids of the service cards, in page order."""
        return [attrs["data-service"] for _, attrs in self.elements if "data-service" in attrs]
