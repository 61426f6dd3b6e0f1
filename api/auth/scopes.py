"""OAuth scopes: what a token allows, as ``resource:action``."""

from enum import StrEnum


class Scope(StrEnum):
    directory_read = "directory:read"
    directory_write = "directory:write"
    directory_confidential = "directory:confidential"
    referrals_send = "referrals:send"
    referrals_receive = "referrals:receive"
    webhooks_manage = "webhooks:manage"
    audit_read = "audit:read"
    stats_read = "stats:read"
    admin = "admin"


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.directory_read: "Read the directory, including partner-only entries",
    Scope.directory_write: "Manage your organisation's directory entries",
    Scope.directory_confidential: "See confidential locations (shelters)",
    Scope.referrals_send: "Send referrals and record consent",
    Scope.referrals_receive: "Receive and work referrals sent to your organisation",
    Scope.webhooks_manage: "Manage webhook subscriptions",
    Scope.audit_read: "Read the audit trail of your organisation's resources",
    Scope.stats_read: "Read the accountability figures: your organisation's (the operator: the "
    "network's), with small counts hidden",
    Scope.admin: "Operate Relay: onboard organisations and clients (operator only)",
}


def parse_scopes(value: str | None) -> list[str]:
    """Space-separated scope string to a de-duplicated list, order kept (RFC 6749 §3.3)."""
    return list(dict.fromkeys((value or "").split()))


def unknown_scopes(scopes: list[str]) -> list[str]:
    known = {scope.value for scope in Scope}
    return [scope for scope in scopes if scope not in known]
