"""The one table of roles and scopes, and a person as the principal the services take."""

import uuid
from datetime import UTC, datetime, timedelta

from api.auth.principal import Principal
from api.auth.roles import ROLE_SCOPES, reads_personal_data, requires_second_factor
from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.models.people import UserRole

SOON = datetime.now(UTC) + timedelta(minutes=15)


def scopes(*granted: Scope) -> frozenset[str]:
    return frozenset(scope.value for scope in granted)


class TestRoles:
    def test_each_role_holds_exactly_its_scopes(self) -> None:
        assert ROLE_SCOPES[UserRole.volunteer] == scopes(Scope.directory_read, Scope.referrals_send)
        assert ROLE_SCOPES[UserRole.caseworker] == scopes(
            Scope.directory_read, Scope.referrals_send, Scope.referrals_receive, Scope.stats_read
        )
        assert ROLE_SCOPES[UserRole.org_admin] == scopes(
            Scope.directory_read,
            Scope.referrals_send,
            Scope.referrals_receive,
            Scope.directory_write,
            Scope.webhooks_manage,
            Scope.audit_read,
            Scope.stats_read,
        )
        assert ROLE_SCOPES[UserRole.operator] == scopes(
            Scope.admin,
            Scope.directory_read,
            Scope.directory_write,
            Scope.directory_confidential,
            Scope.audit_read,
            Scope.stats_read,
        )
        assert set(ROLE_SCOPES) == set(UserRole)

    def test_only_the_operator_may_locate_shelters(self) -> None:
        cleared = [role for role in UserRole if Scope.directory_confidential in ROLE_SCOPES[role]]
        assert cleared == [UserRole.operator]

    def test_the_roles_reading_a_persons_data_need_a_second_factor(self) -> None:
        for role in UserRole:
            assert requires_second_factor(role) is reads_personal_data(role)
            assert reads_personal_data(role) is (role is not UserRole.volunteer)


class TestPrincipal:
    def test_a_person_is_a_principal_with_their_roles_scopes(self) -> None:
        user_id, organization_id = uuid.uuid4(), uuid.uuid4()
        principal = Principal.of_person(
            user_id=user_id,
            organization_id=organization_id,
            role=UserRole.caseworker,
            expires_at=SOON,
        )
        assert principal.is_person
        assert principal.client_id == "relay-web"
        assert principal.client_pk is None
        assert principal.acting_user == f"user/{user_id}"
        assert principal.has(Scope.referrals_receive)
        assert not principal.has(Scope.admin)
        assert principal.reads_personal_data
        assert Viewer.of(principal) == Viewer(sees_partner_records=True, cleared=False)

    def test_an_app_acting_for_a_person_gets_no_more_than_both_allow(self) -> None:
        principal = Principal.of_person(
            user_id=uuid.uuid4(),
            organization_id=uuid.uuid4(),
            role=UserRole.volunteer,
            expires_at=SOON,
            client_id="rly_client_app",
            granted=scopes(Scope.referrals_send, Scope.referrals_receive, Scope.admin),
        )
        assert principal.scopes == scopes(Scope.referrals_send)
        assert not principal.reads_personal_data

    def test_a_partners_system_is_unchanged(self) -> None:
        principal = Principal(
            client_id="rly_client_x",
            client_pk=uuid.uuid4(),
            organization_id=uuid.uuid4(),
            scopes=scopes(Scope.referrals_send),
            expires_at=SOON,
        )
        assert not principal.is_person
        assert principal.role is None
        assert principal.reads_personal_data
