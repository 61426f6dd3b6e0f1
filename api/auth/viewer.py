"""What a caller may see of the directory: the authorisation value every directory read takes.

Built from the caller's scopes (``Viewer.of``) or named outright for a fixed audience (the
lookup pages, exports, a partner's own records). Repositories read it to scope their statements,
so it imports nothing from them: only the principal, the scopes and the visibility levels.
"""

from dataclasses import dataclass

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.models.directory import Location, Visibility


@dataclass(frozen=True)
class Viewer:
    """What a caller may see of the directory.

    A place is ``confidential`` (a shelter); a viewer ``cleared`` for such places (the scope
    ``directory:confidential``) may locate them; to any other viewer one is ``redacted``: listed
    without its name, position or address.
    """

    sees_partner_records: bool
    cleared: bool

    @classmethod
    def of(cls, principal: Principal | None) -> "Viewer":
        if principal is None:
            return cls(sees_partner_records=False, cleared=False)
        cleared = principal.has(Scope.directory_confidential)
        return cls(
            sees_partner_records=principal.has(Scope.directory_read) or cleared,
            cleared=cleared,
        )

    @classmethod
    def owner(cls, principal: Principal) -> "Viewer":
        """The organisation keeping the records, reading them back: every one of them, located;
        but a person only as their scopes allow. No role is cleared for confidential places, so
        an org admin's app reads the organisation's own shelter redacted, as their pages show
        it; a machine client that keeps it reads it whole."""
        return cls(
            sees_partner_records=True,
            cleared=principal.user_id is None or principal.has(Scope.directory_confidential),
        )

    @property
    def levels(self) -> tuple[str, ...]:
        """Record visibilities listed to this viewer (confidential ones are listed, redacted)."""
        if self.sees_partner_records:
            return tuple(level.value for level in Visibility)
        return (Visibility.public.value, Visibility.confidential.value)

    @property
    def located_levels(self) -> tuple[str, ...]:
        """Location visibilities whose position this viewer may know, and so may be ranked by."""
        if self.cleared:
            return self.levels
        return tuple(level for level in self.levels if level != Visibility.confidential.value)

    def redacts(self, location: Location) -> bool:
        return location.visibility == Visibility.confidential.value and not self.cleared
