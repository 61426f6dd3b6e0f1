"""The ``relay`` command, run as a user runs it: a real process."""

import json
import os
import subprocess
import sys
from pathlib import Path

from api import __version__

RELAY = Path(sys.executable).parent / "relay"


def run_relay(*args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment["RELAY_DATABASE_URL"] = os.environ["RELAY_TEST_DATABASE_URL"]
    environment["RELAY_MIGRATION_DATABASE_URL"] = os.environ["RELAY_TEST_MIGRATION_DATABASE_URL"]
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(RELAY), *args], capture_output=True, text=True, env=environment, timeout=120
    )


class TestCli:
    def test_version(self) -> None:
        result = run_relay("version")
        assert result.returncode == 0
        assert result.stdout.strip() == __version__

    def test_db_current_is_head(self) -> None:
        result = run_relay("db", "current")
        assert result.returncode == 0, result.stderr
        assert "(head)" in result.stdout

    def test_openapi_check_passes_on_the_committed_file(self) -> None:
        result = run_relay("openapi", "--check")
        assert result.returncode == 0, result.stderr

    def test_openapi_check_fails_on_a_stale_file(self, tmp_path: Path) -> None:
        stale = tmp_path / "openapi.json"
        stale.write_text(json.dumps({"openapi": "3.1.0", "paths": {}}))
        result = run_relay("openapi", "--check", "--output", str(stale))
        assert result.returncode == 1
        assert "out of date" in result.stderr

    def test_worker_once_connects_and_stops(self) -> None:
        result = run_relay("worker", "--once")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
        assert events == ["worker_started", "worker_stopped"]
