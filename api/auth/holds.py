"""Whether a credential still holds: a person's account, and a stored access token.

One rule for a session and a token alike: ``current_user`` (``api/services/people``) reads the
account and asks ``account_holds``; a bearer token's check reads the same columns in the query
that finds the token (``api/repositories/tokens.py``) and asks ``token_holds``, so that a
token of a person deactivated, reset, signed out everywhere or moved to another role stops
working on its next use, with no query of its own.
"""

from api.auth.roles import requires_second_factor
from api.models.people import UserRole
from api.repositories.tokens import ActiveToken


def account_holds(
    *,
    role: UserRole,
    deactivated: bool,
    organization_active: bool,
    generation: int,
    expected_generation: int,
    second_factor: bool,
) -> bool:
    """The account is not deactivated, its organisation is active, its generation is still the
    one the session or token was made in (no deactivation, reset, role change or "sign out
    everywhere" since) and, for a role that needs one, its authenticator is confirmed."""
    return (
        not deactivated
        and organization_active
        and generation == expected_generation
        and (second_factor or not requires_second_factor(role))
    )


def token_holds(found: ActiveToken) -> bool:
    """The token works (``ActiveToken.works``: not revoked, its client enabled, the
    organisations active) and, for a person's, so does the person's account (its expiry is
    checked against the clock on each use)."""
    if not found.works:
        return False
    person = found.person
    if person is None:
        return True
    return account_holds(
        role=UserRole(person.role),
        deactivated=person.deactivated,
        # The token's organisation is the person's: ``works`` checked it is active.
        organization_active=True,
        generation=person.account_generation,
        expected_generation=person.token_generation,
        second_factor=person.second_factor,
    )
