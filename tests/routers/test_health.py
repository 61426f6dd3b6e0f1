"""Operations endpoints against the real database."""

import httpx

from api.main import create_app
from tests.conftest import make_settings


class TestLiveness:
    async def test_ok(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReadiness:
    async def test_reports_postgis_version(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["postgis"].startswith('POSTGIS="3.')

    async def test_unreachable_database_is_503_problem(self) -> None:
        app = create_app(
            make_settings(database_url="postgresql+asyncpg://nobody:nothing@127.0.0.1:1/none")
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "nobody" not in response.text
        assert "127.0.0.1" not in response.text
