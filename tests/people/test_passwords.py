"""Passwords: what is accepted (NIST SP 800-63B-4), how they are kept (Argon2id), rehashing, and
the time an unknown account takes."""

import gzip
import importlib.util
import statistics
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError

from api.auth import passwords
from api.auth.passwords import PasswordNotAccepted, check_new_password
from api.config import Environment, Settings
from api.models.people import UserRole
from tests.conftest import make_settings


class TestPolicy:
    def test_a_long_passphrase_of_any_characters_is_accepted(self) -> None:
        accepted = check_new_password("trois chèvres sur le pont", UserRole.volunteer, [])
        assert accepted == "trois chèvres sur le pont"
        assert check_new_password("ओखर पानी दिउँसो", UserRole.caseworker, []) == "ओखर पानी दिउँसो"

    @pytest.mark.parametrize(
        ("role", "shortest"), [(UserRole.volunteer, 15), (UserRole.caseworker, 10)]
    )
    def test_minimum_length_depends_on_whether_a_second_factor_is_required(
        self, role: UserRole, shortest: int
    ) -> None:
        candidate = "gxqzwvbntkmpshlrdfjc"
        with pytest.raises(PasswordNotAccepted, match=f"at least {shortest}"):
            check_new_password(candidate[: shortest - 1], role, [])
        assert check_new_password(candidate[:shortest], role, []) == candidate[:shortest]

    def test_at_most_256_characters(self) -> None:
        with pytest.raises(PasswordNotAccepted, match="at most 256"):
            check_new_password("abcdefghjk" * 26, UserRole.caseworker, [])

    @pytest.mark.parametrize(
        "common", ["password1234", "PASSWORD1234", "qwertyuiop", "iloveyou123", "1q2w3e4r5t"]
    )
    def test_common_passwords_are_refused_whatever_their_case(self, common: str) -> None:
        assert common.lower() in passwords.common_passwords()
        with pytest.raises(PasswordNotAccepted, match="most common"):
            check_new_password(common, UserRole.caseworker, [])

    @pytest.mark.parametrize("weak", ["aaaaaaaaaaaaaaaa", "0123456789012", "zyxwvutsrqpo"])
    def test_repetitions_and_sequences_are_refused(self, weak: str) -> None:
        with pytest.raises(PasswordNotAccepted, match="repeated or a sequence"):
            check_new_password(weak, UserRole.caseworker, [])

    def test_a_password_that_is_mostly_the_login_or_name_is_refused(self) -> None:
        context = ["aminata.diallo", "+221770000001", "Aminata Diallo"]
        for weak in ["aminata.diallo2026", "Aminata Diallo!!", "221770000001ab", "relayrelay123"]:
            with pytest.raises(PasswordNotAccepted, match="mostly your login"):
                check_new_password(weak, UserRole.caseworker, context)
        assert check_new_password("aminata sings by the river", UserRole.caseworker, context)

    def test_unicode_is_normalised_before_anything(self) -> None:
        composed = check_new_password("caf\u00e9 au lait chaud", UserRole.caseworker, [])
        decomposed = check_new_password("cafe\u0301 au lait chaud", UserRole.caseworker, [])
        assert composed == decomposed


class TestCommonPasswordList:
    def test_the_list_is_djangos_current_one(self) -> None:
        """api/auth/common-passwords.txt.gz is a copy of the list the pinned Django ships
        (scripts/common-passwords.sh): a Django release with another list fails here."""
        spec = importlib.util.find_spec("django")
        assert spec is not None
        assert spec.origin is not None
        shipped = Path(spec.origin).parent / "contrib" / "auth" / "common-passwords.txt.gz"
        with gzip.open(shipped, "rt", encoding="utf-8") as lines:
            theirs = {line.strip() for line in lines if line.strip()}
        assert passwords.common_passwords() == theirs
        assert len(theirs) > 19_000


class TestHashing:
    async def test_argon2id_with_the_settings_parameters(self, settings: Settings) -> None:
        hashed = await passwords.hash_password(settings, "a passphrase of mine")
        assert hashed.startswith("$argon2id$v=19$m=64,t=1,p=1$")
        assert (await passwords.verify(settings, hashed, "a passphrase of mine")).ok
        assert not (await passwords.verify(settings, hashed, "a passphrase of thine")).ok

    async def test_verification_normalises_as_hashing_did(self, settings: Settings) -> None:
        hashed = await passwords.hash_password(settings, passwords.normalise("caf\u00e9 noir"))
        assert (await passwords.verify(settings, hashed, "cafe\u0301 noir")).ok

    async def test_a_hash_with_older_parameters_is_remade(self, settings: Settings) -> None:
        older = PasswordHasher(time_cost=1, memory_cost=32, parallelism=1, type=Type.ID)
        stored = older.hash("an old passphrase here")
        verified = await passwords.verify(settings, stored, "an old passphrase here")
        assert verified.ok
        assert verified.rehashed is not None
        assert "$m=64,t=1,p=1$" in verified.rehashed
        current = await passwords.verify(settings, verified.rehashed, "an old passphrase here")
        assert current.ok
        assert current.rehashed is None

    async def test_a_malformed_hash_never_matches(self, settings: Settings) -> None:
        with pytest.raises(InvalidHashError):
            PasswordHasher().verify("not a hash", "x")
        assert not (await passwords.verify(settings, "not a hash", "x")).ok

    def test_production_defaults_are_rfc_9106s_second_option(self) -> None:
        defaults = Settings(environment=Environment.development, public_url="http://127.0.0.1:8000")
        assert defaults.password_hash_time_cost == 3
        assert defaults.password_hash_memory_kib == 64 * 1024
        assert defaults.password_hash_parallelism == 4

    def test_production_refuses_hashing_weaker_than_owasps_minimum(self) -> None:
        with pytest.raises(ValueError, match="PASSWORD_HASH_MEMORY_KIB"):
            make_settings(
                environment=Environment.production,
                database_url="postgresql+asyncpg://relay_app:x@db:5432/relay",
                password_hash_memory_kib=8 * 1024,
            )


class TestUnknownAccounts:
    async def test_an_unknown_account_takes_as_long_as_a_wrong_password(self) -> None:
        """Checked with production-like parameters (8 MiB), where a hash takes long enough to
        measure: both paths compute one hash with the same parameters."""
        settings = make_settings(password_hash_memory_kib=8 * 1024, password_hash_time_cost=2)
        stored = await passwords.hash_password(settings, "the real passphrase")

        async def timed(stored_hash: str | None) -> float:
            start = time.perf_counter()
            assert not (await passwords.verify(settings, stored_hash, "a wrong guess")).ok
            return time.perf_counter() - start

        await timed(None)  # the stand-in hash is made once, on first use
        known = [await timed(stored) for _ in range(7)]
        unknown = [await timed(None) for _ in range(7)]
        assert statistics.median(unknown) == pytest.approx(statistics.median(known), rel=0.5)
        assert min(unknown) > 0.3 * statistics.median(known)
