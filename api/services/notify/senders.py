"""How a notification leaves Relay: one ``Notifier`` per channel, chosen by the settings.

- ``LogNotifier`` (development, ``RELAY_NOTIFIER=log``): writes that a message would be sent,
  with its channel and text, never the address.
- ``SmtpNotifier`` (``RELAY_NOTIFIER=smtp``): the standard library's ``smtplib`` in a thread
  (it blocks), STARTTLS and login when configured, a time limit on every step.
- ``HttpSmsGateway`` (``RELAY_SMS_GATEWAY_URL``): an SMS gateway reached over HTTPS, the shape
  most gateways take: ``POST`` of ``{"to": "+…", "text": "…"}`` as JSON with a bearer token,
  any 2xx meaning accepted. A gateway with another shape is another class of this protocol.

A notifier raises when the message was not accepted; the caller keeps it and tries again.
"""

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import httpx

from api.config import NotifierKind, Settings
from api.logging import get_logger
from api.models.notifications import NotificationChannel

log = get_logger("relay.notify")


@dataclass(frozen=True)
class Message:
    """What is sent: to whom, a subject (e-mail) and a text, which say nothing of any person."""

    to: str
    subject: str
    text: str


class Notifier(Protocol):
    channel: NotificationChannel

    async def send(self, message: Message) -> None:
        """Hand the message over; raise when it was not accepted."""


class LogNotifier:
    def __init__(self, channel: NotificationChannel) -> None:
        self.channel = channel

    async def send(self, message: Message) -> None:
        log.info("notification_logged", channel=self.channel.value, text=message.text)


class SmtpNotifier:
    channel = NotificationChannel.email

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.sender = settings.smtp_from
        self.starttls = settings.smtp_starttls
        self.username = settings.smtp_username
        self.password = settings.smtp_password.get_secret_value()
        self.timeout = settings.smtp_timeout_seconds

    def _email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.text)
        return email

    def _send(self, message: Message) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(self._email(message))

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)


class HttpSmsGateway:
    channel = NotificationChannel.sms

    def __init__(self, settings: Settings) -> None:
        self.url = settings.sms_gateway_url
        self.token = settings.sms_gateway_token.get_secret_value()
        self.timeout = settings.smtp_timeout_seconds

    async def send(self, message: Message) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            answer = await client.post(
                self.url, json={"to": message.to, "text": message.text}, headers=headers
            )
        answer.raise_for_status()


def notifiers(settings: Settings) -> dict[NotificationChannel, Notifier]:
    """The notifier of each channel, as the settings choose."""
    email: Notifier = (
        SmtpNotifier(settings)
        if settings.notifier is NotifierKind.smtp
        else LogNotifier(NotificationChannel.email)
    )
    sms: Notifier = (
        HttpSmsGateway(settings)
        if settings.sms_gateway_url
        else LogNotifier(NotificationChannel.sms)
    )
    return {NotificationChannel.email: email, NotificationChannel.sms: sms}
