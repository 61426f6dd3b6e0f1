"""The committed OpenAPI document is what the app serves, and the app honours it."""

import json
import re
from pathlib import Path
from typing import Any

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


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _names_its_properties(document: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """An object that lists its properties (or is closed and empty), an array of such, text,
    or a union of them; not ``{}``, nor an object that says only that it is one."""
    if not schema:
        return False
    schema = _resolved(document, schema)
    if "properties" in schema:
        return True
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            members = [item for item in schema[union] if item != {"type": "null"}]
            return bool(members) and all(_names_its_properties(document, m) for m in members)
    if schema.get("type") == "array":
        return _names_its_properties(document, schema.get("items"))
    return schema.get("type") in {"string", "integer", "number", "boolean"}


class TestSuccessResponsesAreTyped:
    """A partner who generates a client from the document gets a class for every body, not
    ``Any``: each success response (204 aside) has a schema naming its fields."""

    def test_no_success_response_without_a_schema(self) -> None:
        document = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
        untyped, checked = [], 0
        for path, path_item in document["paths"].items():
            for method, operation in path_item.items():
                for status, response in operation["responses"].items():
                    if not status.startswith("2") or status == "204":
                        continue
                    checked += 1
                    content = response.get("content", {})
                    if not content:
                        untyped.append(f"{method.upper()} {path} {status}: no content")
                    for media_type, media in content.items():
                        if not _names_its_properties(document, media.get("schema")):
                            untyped.append(f"{method.upper()} {path} {status} {media_type}")
        assert checked >= 70
        assert untyped == []

    @pytest.mark.parametrize(
        "schema",
        [
            {},
            {"type": "object"},
            {"type": "object", "additionalProperties": True, "title": "Response Search-Nearest"},
            {"anyOf": [{"type": "object"}, {"type": "null"}]},
            {"type": "array", "items": {}},
        ],
    )
    def test_the_walker_refuses_free_form_bodies(self, schema: dict[str, Any]) -> None:
        document: dict[str, Any] = {"components": {"schemas": {}}}
        assert not _names_its_properties(document, schema)


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
