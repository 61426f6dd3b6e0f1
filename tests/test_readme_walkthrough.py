"""The README's partner walkthrough, pasted into bash on a fresh Debian machine, works.

Its shell blocks marked ``<!-- walkthrough -->`` are run in order, in one bash, with nothing but
bash, curl and python3 on the PATH, against a real ``relay serve`` with its ``relay worker`` as
``make run`` starts them (``scripts/serve-with-worker.sh``) on a free port of the test database
(the blocks' ``http://127.0.0.1:8000`` pointed at it); the ``relay`` commands reach the same
database through ``scripts/with-db.sh``, as on ``make run``'s machine. The server commits: the
rows of the organisations the walkthrough creates are deleted afterwards (the audit events stay,
append-only by design).
"""

import asyncio
import re
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_DATABASE_URL, TEST_MIGRATION_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = "<!-- walkthrough -->"
BLOCK = re.compile(
    r"^(?P<indent>[ ]*)" + re.escape(MARKER) + r"\n[ ]*```sh\n(?P<body>.*?)\n[ ]*```$",
    re.MULTILINE | re.DOTALL,
)
README_URL = "http://127.0.0.1:8000"
DELIMITER = "=== walkthrough block {} ==="
VARIABLES = (
    "SENDER_ORG",
    "RECEIVER_ORG",
    "SERVICE_ID",
    "CONSENT_ID",
    "REFERRAL_ID",
    "KEY",
    "APP_ID",
)


def walkthrough_blocks() -> list[str]:
    """The marked shell blocks of the README, in order, unindented."""
    return [textwrap.dedent(match["body"]) for match in BLOCK.finditer(README.read_text())]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(port: int) -> dict[str, str]:
    """What a fresh machine has (bash, curl, python3 in /usr/bin and /bin) and the database
    variables ``make run`` would give; nothing else of the test's environment."""
    python_directory = str(Path(sys.executable).parent)
    return {
        "PATH": f"/usr/local/bin:/usr/bin:/bin:{python_directory}",
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "RELAY_ENVIRONMENT": "development",
        "RELAY_DATABASE_URL": TEST_DATABASE_URL,
        "RELAY_MIGRATION_DATABASE_URL": TEST_MIGRATION_DATABASE_URL,
        "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RELAY_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``relay serve`` and ``relay worker`` as ``make run`` starts them, on a free port of the
    test database; the API's base URL."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
        [str(ROOT / "scripts/serve-with-worker.sh"), "127.0.0.1", str(port)],
        cwd=ROOT,
        env=_environment(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "relay serve stopped"
            assert time.monotonic() < deadline, "relay serve did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _delete_organisations(engine: AsyncEngine, ids: list[uuid.UUID]) -> None:
    statements = [
        "DELETE FROM referral_event WHERE referral_id IN"
        " (SELECT id FROM referral WHERE from_organization_id = ANY(:ids))",
        "DELETE FROM referral WHERE from_organization_id = ANY(:ids)",
        "DELETE FROM consent WHERE organization_id = ANY(:ids)",
        "DELETE FROM outbox_event WHERE organization_id = ANY(:ids)"
        " OR data->>'organization_id' = ANY(CAST(CAST(:ids AS uuid[]) AS text[]))",
        "DELETE FROM attribute WHERE link_id IN"
        " (SELECT id FROM service WHERE organization_id = ANY(:ids))",
        "DELETE FROM metadata WHERE resource_id IN"
        " (SELECT id FROM service WHERE organization_id = ANY(:ids)"
        "  UNION SELECT id FROM location WHERE organization_id = ANY(:ids))",
        "DELETE FROM service_at_location WHERE service_id IN"
        " (SELECT id FROM service WHERE organization_id = ANY(:ids))",
        "DELETE FROM phone WHERE organization_id = ANY(:ids)",
        "DELETE FROM address WHERE location_id IN"
        " (SELECT id FROM location WHERE organization_id = ANY(:ids))",
        "DELETE FROM location WHERE organization_id = ANY(:ids)",
        "DELETE FROM service WHERE organization_id = ANY(:ids)",
        "DELETE FROM oauth_assertion WHERE client_pk IN"
        " (SELECT id FROM oauth_client WHERE organization_id = ANY(:ids))",
        "DELETE FROM oauth_token WHERE organization_id = ANY(:ids)",
        "DELETE FROM oauth_client WHERE organization_id = ANY(:ids)",
        "DELETE FROM organization WHERE id = ANY(:ids)",
    ]
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"ids": ids})


class TestPartnerWalkthrough:
    def test_the_blocks_are_found(self) -> None:
        blocks = walkthrough_blocks()
        assert len(blocks) >= 7
        assert all(README_URL in block or "$RELAY" in block for block in blocks)
        script = "\n".join(blocks)
        assert "jq" not in re.findall(r"[a-z]+", script), "jq is not on a fresh Debian"
        assert "uuidgen" not in script, "uuidgen is not on a fresh Debian"

    async def test_pasted_into_bash_it_refers_once_and_closes_the_loop(
        self, server: str, owner_engine: AsyncEngine
    ) -> None:
        blocks = [block.replace(README_URL, server) for block in walkthrough_blocks()]
        script = ["set -euo pipefail"]
        for index, block in enumerate(blocks):
            script += [f"echo '{DELIMITER.format(index)}'", block, "echo"]
        script += [f'echo "{name}=${name}"' for name in VARIABLES]
        port = server.rsplit(":", 1)[1]
        finished = await asyncio.to_thread(
            subprocess.run,
            ["/bin/bash", "-c", "\n".join(script)],
            cwd=ROOT,
            env=_environment(int(port)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = dict(re.findall(r"^([A-Z_]+)=(.+)$", finished.stdout, re.MULTILINE))
        organisations = [
            uuid.UUID(found[name]) for name in ("SENDER_ORG", "RECEIVER_ORG") if name in found
        ]
        try:
            assert finished.returncode == 0, finished.stdout + finished.stderr
            self._check(finished.stdout, found)
            async with owner_engine.connect() as connection:
                referrals = await connection.scalar(
                    text("SELECT count(*) FROM referral WHERE consent_id = :consent"),
                    {"consent": found["CONSENT_ID"]},
                )
                status = await connection.scalar(
                    text("SELECT status FROM referral WHERE id = :id"),
                    {"id": found["REFERRAL_ID"]},
                )
            assert (referrals, status) == (1, "accepted")
        finally:
            await _delete_organisations(owner_engine, organisations)

    @staticmethod
    def _check(output: str, found: dict[str, str]) -> None:
        parts = [
            part.strip()
            for part in re.split(r"^=== walkthrough block \d+ ===$", output, flags=re.MULTILINE)
        ][1:]
        operator, tokens, listing, referring, receiving, events, app = parts[:7]
        for name in VARIABLES:
            assert found.get(name), f"{name} was not set"
        uuid.UUID(found["KEY"])
        assert '"access_token":"rly_at_' in tokens  # a token
        assert '"data"' in tokens  # and a call with it
        assert referring.split() == ["200"]  # the retry: the same referral, not another
        # box=received lists it (the moves print only statuses), then the two moves and what
        # the sender sees (curl ends no line of its own: "received" follows the listing's JSON).
        assert f'"id":"{found["REFERRAL_ID"]}"' in receiving
        assert receiving.endswith("received\naccepted\naccepted")
        assert '"referral.created"' in events
        assert operator == ""
        assert listing == ""
        assert found["APP_ID"].startswith("rly_client_")  # a public app acting for people
        assert app.splitlines()[0] == "['S256']"
