"""People's accounts and sign-in (issue 20): a package of modules by job, as referrals are.

- ``accounts``: invitations, resets, roles, deactivation, an organisation's people (managers'
  work, with the rules of who manages whom);
- ``sign_in``: the steps of a sign-in, what a session checks on every use, "sign out
  everywhere";
- ``second_factor``: TOTP enrolment and recovery codes;
- ``throttle``: failed sign-ins slowing the next ones, per account and per address;
- ``identifiers``: logins (a name or an E.164 phone number), display names, languages;
- ``steps``: what these answer (``SignInStep``, ``SignedInUser``…);
- ``errors``: what they refuse.

Passwords (Argon2id, the policy) are ``api/auth/passwords.py``; TOTP codes
``api/auth/totp.py``; roles and their scopes ``api/auth/roles.py``.
"""

from api.services.people.accounts import (
    InvitationDetails,
    Invited,
    Manager,
    UserSummary,
    change_password,
    change_role,
    choose_own_language,
    deactivate,
    get_user,
    grantable_roles,
    invitation_details,
    invite,
    list_users,
    managed_organizations,
    own_account,
    redeem_invitation,
    reset,
)
from api.services.people.second_factor import (
    RECOVERY_CODES,
    confirm_totp,
    enrol_totp,
    pending_totp,
    recovery_codes_left,
    regenerate_recovery_codes,
)
from api.services.people.sign_in import (
    current_user,
    sign_in,
    sign_out_everywhere,
    use_recovery_code,
    verify_second_factor,
)
from api.services.people.steps import (
    EnrolmentNeeded,
    Refused,
    SecondFactorNeeded,
    SignedIn,
    SignedInUser,
    SignInStep,
    TotpConfirmed,
    TotpEnrolment,
)

__all__ = [
    "RECOVERY_CODES",
    "EnrolmentNeeded",
    "InvitationDetails",
    "Invited",
    "Manager",
    "Refused",
    "SecondFactorNeeded",
    "SignInStep",
    "SignedIn",
    "SignedInUser",
    "TotpConfirmed",
    "TotpEnrolment",
    "UserSummary",
    "change_password",
    "change_role",
    "choose_own_language",
    "confirm_totp",
    "current_user",
    "deactivate",
    "enrol_totp",
    "get_user",
    "grantable_roles",
    "invitation_details",
    "invite",
    "list_users",
    "managed_organizations",
    "own_account",
    "pending_totp",
    "recovery_codes_left",
    "redeem_invitation",
    "regenerate_recovery_codes",
    "reset",
    "sign_in",
    "sign_out_everywhere",
    "use_recovery_code",
    "verify_second_factor",
]
