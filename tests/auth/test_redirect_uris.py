"""Redirect URIs (api/auth/redirect_uris.py): what may be registered, and the exact match."""

import pytest

from api.auth.redirect_uris import RedirectUriRefused, check, check_all, matches


class TestRegistered:
    @pytest.mark.parametrize(
        "uri",
        [
            "https://app.example.org/callback",
            "https://app.example.org:8443/relay/cb?tenant=kounda",
            "https://app.example.org/",
        ],
    )
    def test_https_for_any_client(self, uri: str) -> None:
        assert check(uri, public=False) == uri
        assert check(uri, public=True) == uri

    @pytest.mark.parametrize(
        "uri",
        ["http://127.0.0.1/callback", "http://127.0.0.1:8765/cb", "http://[::1]/callback"],
    )
    def test_loopback_for_public_native_apps_only(self, uri: str) -> None:
        assert check(uri, public=True) == uri
        with pytest.raises(RedirectUriRefused, match="native apps"):
            check(uri, public=False)

    @pytest.mark.parametrize(
        ("uri", "why"),
        [
            ("http://app.example.org/callback", "https"),
            ("http://localhost/callback", "not localhost"),
            ("http://localhost:8080/callback", "not localhost"),
            ("com.example.app:/callback", "private-use"),
            ("https://*.example.org/callback", "wildcards"),
            ("https://app.example.org/*", "wildcards"),
            ("https://app.example.org/callback#frag", "fragment"),
            ("https://user:pw@app.example.org/callback", "user information"),
            ("https://app.example.org", "path"),
            ("/callback", "path|https"),
            ("https://app.example.org/call back", "printable"),
            ("https://app.example.org/é", "printable"),
            ("https://app.example.org:0/cb", "port"),
            ("https://app.example.org:99999/cb", "absolute"),
            ("https://app.example.org/" + "a" * 512, "printable"),
            ("", "printable"),
            ("javascript:alert(1)//", "path|https"),
            ("https:///callback", "https"),
        ],
    )
    def test_refused(self, uri: str, why: str) -> None:
        with pytest.raises(RedirectUriRefused, match=why):
            check(uri, public=True)

    def test_the_message_never_repeats_the_uri(self) -> None:
        with pytest.raises(RedirectUriRefused) as refused:
            check("http://evil.example/<script>", public=True)
        assert "evil" not in str(refused.value)

    def test_at_most_ten_each_once(self) -> None:
        uris = [f"https://app.example.org/{n}" for n in range(10)]
        assert check_all([*uris, uris[0]], public=False) == uris
        with pytest.raises(RedirectUriRefused, match="at most 10"):
            check_all([*uris, "https://app.example.org/10"], public=False)


class TestMatched:
    REGISTERED = ("https://app.example.org/cb?x=1", "http://127.0.0.1/callback")

    @pytest.mark.parametrize(
        "sent",
        [
            "https://app.example.org/cb?x=1",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/callback",
            "http://127.0.0.1:53682/callback",
            "http://127.0.0.1:65535/callback",
        ],
    )
    def test_exactly_or_with_any_loopback_port(self, sent: str) -> None:
        assert matches(self.REGISTERED, sent)

    @pytest.mark.parametrize(
        "sent",
        [
            "https://app.example.org/cb",
            "https://app.example.org/cb?x=1&y=2",
            "https://app.example.org/cb?x=1#f",
            "https://APP.example.org/cb?x=1",
            "https://app.example.org/cb/?x=1",
            "https://app.example.org/cb?x=1/../../evil",
            "https://app.example.org.evil.example/cb?x=1",
            "http://app.example.org/cb?x=1",
            "http://127.0.0.1/callback/",
            "http://127.0.0.1/callbackx",
            "http://127.0.0.1/callback?x=1",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:99999/callback",
            "http://[::1]/callback",
            "http://localhost/callback",
            "https://127.0.0.1/callback",
            "http://127.0.0.2/callback",
            "http://127.0.0.1@evil.example/callback",
            "http://127.0.0.1:80@evil.example/callback",
        ],
    )
    def test_nothing_else(self, sent: str) -> None:
        assert not matches(self.REGISTERED, sent)

    def test_https_ports_are_exact(self) -> None:
        assert not matches(["https://app.example.org/cb"], "https://app.example.org:443/cb")
        assert not matches(["https://app.example.org:8443/cb"], "https://app.example.org/cb")
