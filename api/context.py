"""What is known of the request being served, for code that is not handed the request: the
problem renderer (``request_id`` in every problem), the audit trail (request id and client
address of each event) and log lines.

``api.middleware.RequestContextMiddleware`` sets both for the span of each HTTP request and
resets them afterwards; outside a request (the worker, the CLI) they are ``None``.
"""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("relay_request_id", default=None)
"""The request's ``X-Request-ID``: the caller's when well formed, a new one otherwise."""

client_ip_var: ContextVar[str | None] = ContextVar("relay_client_ip", default=None)
"""The caller's address, for the audit trail."""
