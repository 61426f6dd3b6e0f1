"""What the people services refuse, as problems (``api/errors.py``). None says whether an
account exists in another organisation, nor anything a person typed."""

from api.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable


class UserNotFound(NotFound, code="user-not-found", title="User not found"): ...


class NotAllowed(Forbidden, code="user-management-forbidden"):
    """The caller may not manage these people, or not give this role."""


class OwnAccount(Forbidden, code="own-account"):
    """Nobody changes their own role or deactivates themselves: another admin does."""


class InvalidLogin(BadRequest, code="invalid-login"): ...


class LoginTaken(Conflict, code="login-taken", title="Login taken"): ...


class UserDeactivated(Conflict, code="user-deactivated", title="User deactivated"): ...


class OperatorOrganization(Unprocessable, code="operator-organization"):
    """The operator role exists only in the operator's organisation, and only it does there."""


class PasswordNotAccepted(Unprocessable, code="password-not-accepted"):
    """Its extensions ``reason`` and ``limit`` are the policy's (``api/auth/passwords.py``)."""


class InvalidLanguage(BadRequest, code="invalid-language"): ...


class InvalidDisplayName(BadRequest, code="invalid-display-name"): ...


class SecondFactorNotNeeded(Conflict, code="second-factor-not-enrolled"):
    """Recovery codes belong to an account with a confirmed authenticator."""


class EnrolmentNotStarted(Conflict, code="totp-enrolment-not-started"): ...
