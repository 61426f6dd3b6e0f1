"""The committed OpenAPI document is what the app serves, and the app honours it."""

import json
import re
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from tests.conftest import make_settings

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


class TestCommittedDocument:
    def test_matches_the_app(self, app: FastAPI) -> None:
        committed = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
        assert committed == app.openapi(), "openapi/openapi.json is stale: run `make openapi`"

    def test_operation_ids_are_tag_dash_name(self, app: FastAPI) -> None:
        operations = [
            operation
            for path_item in app.openapi()["paths"].values()
            for operation in path_item.values()
        ]
        assert operations
        for operation in operations:
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9_]+)+", operation["operationId"])
            assert operation["operationId"].startswith(operation["tags"][0] + "-")

    def test_errors_are_documented_as_problems(self, app: FastAPI) -> None:
        for path_item in app.openapi()["paths"].values():
            for operation in path_item.values():
                for status in ("4XX", "5XX"):
                    content = operation["responses"][status]["content"]
                    assert content == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }


def test_hsds_operations_document_404_and_422(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, path_item in paths.items():
        if not path.startswith("/hsds/") or path == "/hsds/":
            continue
        responses = path_item["get"]["responses"]
        assert "422" in responses, path
        if path.endswith("}"):
            assert "404" in responses, path
        for status in ("404", "422"):
            if status in responses:
                assert responses[status]["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }


# schemathesis drives its own event loop and the app's real lifespan, against the test database.
fuzzed = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@fuzzed.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_honours_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance]
    )
