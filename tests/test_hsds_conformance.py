"""The offline HSDS 3.1 / ORUK 3.0 validator (tests/hsds_conformance.py) works both ways.

Upstream examples and the ORUK validator's Default mock feed must validate; the documents the
ORUK Fail (and Warn) feeds break on purpose must fail with the expected errors; and hand-made
breakages of valid documents (bad email, URI, date-time, UUID, missing required fields, a wrong
page envelope) must fail. No database is needed.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from tests.hsds_conformance import (
    HSDS_DIR,
    HSDS_KINDS,
    HSDS_OPENAPI,
    ORUK_DIR,
    ORUK_OPENAPI,
    ORUK_PROFILE_PREFIX,
    ORUK_SCHEMAS,
    hsds_validator,
    openapi_response_ref,
    oruk_validator,
    validate,
    validate_hsds,
    validate_oruk,
    validator_for_ref,
)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def get_endpoints(openapi: dict[str, Any]) -> set[str]:
    """The paths of an OpenAPI document that declare a JSON 200 response to GET."""
    return {
        path
        for path, item in openapi["paths"].items()
        if "application/json"
        in item.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
    }


# --- HSDS 3.1 -----------------------------------------------------------------------------------

HSDS_EXAMPLES = HSDS_DIR / "examples"

#: Every HSDS 3.1 example that is a response shape (or, for location.json, an object), by kind.
HSDS_EXAMPLE_KINDS = {
    "base.json": "api_details",
    "location.json": "location",
    "organization_full.json": "organization",
    "organization_list.json": "organization_list_page",
    "service_at_location_full.json": "service_at_location",
    "service_at_location_list.json": "service_at_location_list_page",
    "service_full.json": "service",
    "service_list.json": "service_list_page",
    "taxonomy.json": "taxonomy",
    "taxonomy_list.json": "taxonomy_list_page",
    "taxonomy_term.json": "taxonomy_term",
    "taxonomy_term_list.json": "taxonomy_term_list_page",
}
HSDS_EXAMPLES_NOT_RESPONSES = {
    # The tabular (CSV) serialisation: {"services.csv": [rows...], ...}, not a JSON API response.
    "tabular.json",
}

#: GET endpoint of the HSDS OpenAPI -> the example of its response.
HSDS_ENDPOINT_EXAMPLES = {
    "/": "base.json",
    "/services": "service_list.json",
    "/services/{id}": "service_full.json",
    "/organizations": "organization_list.json",
    "/organizations/{id}": "organization_full.json",
    "/service_at_locations": "service_at_location_list.json",
    "/taxonomies": "taxonomy_list.json",
    "/taxonomies/{id}": "taxonomy.json",
    "/taxonomy_terms": "taxonomy_term_list.json",
    "/taxonomy_terms/{id}": "taxonomy_term.json",
}
# Upstream defect (fixed in HSDS v3.1.1+, not in this 3.1-dev snapshot): the 200 response of
# GET /service_at_locations/{id} refs compiled/service.json instead of
# compiled/service_at_location.json, so no service at location can satisfy it. hsds_conformance
# uses compiled/service_at_location.json for "service_at_location";
# test_hsds_openapi_service_at_location_by_id_is_defective pins the defect.
HSDS_DEFECTIVE_ENDPOINT = "/service_at_locations/{id}"


def test_every_hsds_example_is_accounted_for() -> None:
    files = {path.name for path in HSDS_EXAMPLES.glob("*.json")}
    assert files == set(HSDS_EXAMPLE_KINDS) | HSDS_EXAMPLES_NOT_RESPONSES


@pytest.mark.parametrize(("example", "kind"), sorted(HSDS_EXAMPLE_KINDS.items()))
def test_hsds_example_validates(example: str, kind: str) -> None:
    assert validate_hsds(load(HSDS_EXAMPLES / example), kind) == []


def test_every_hsds_endpoint_is_accounted_for() -> None:
    openapi = load(HSDS_DIR / "schema" / "openapi.json")
    assert get_endpoints(openapi) == set(HSDS_ENDPOINT_EXAMPLES) | {HSDS_DEFECTIVE_ENDPOINT}


@pytest.mark.parametrize(("endpoint", "example"), sorted(HSDS_ENDPOINT_EXAMPLES.items()))
def test_hsds_example_validates_against_openapi_response(endpoint: str, example: str) -> None:
    validator = validator_for_ref(openapi_response_ref(HSDS_OPENAPI, endpoint))
    assert validate(validator, load(HSDS_EXAMPLES / example)) == []


def test_hsds_openapi_service_at_location_by_id_is_defective() -> None:
    """If this starts passing, upstream fixed the ref: use the OpenAPI schema for the kind."""
    validator = validator_for_ref(openapi_response_ref(HSDS_OPENAPI, HSDS_DEFECTIVE_ENDPOINT))
    errors = validate(validator, load(HSDS_EXAMPLES / "service_at_location_full.json"))
    assert errors == ["$: 'name' is a required property", "$: 'status' is a required property"]


def test_hsds_page_kinds_are_the_openapi_list_responses() -> None:
    pages = {kind: ref for kind, ref in HSDS_KINDS.items() if kind.endswith("_list_page")}
    assert pages == {
        f"{name}_list_page": openapi_response_ref(HSDS_OPENAPI, endpoint)
        for name, endpoint in [
            ("service", "/services"),
            ("organization", "/organizations"),
            ("service_at_location", "/service_at_locations"),
            ("taxonomy", "/taxonomies"),
            ("taxonomy_term", "/taxonomy_terms"),
        ]
    }


def hsds_example(name: str) -> Any:
    return copy.deepcopy(load(HSDS_EXAMPLES / name))


def test_hsds_service_with_invalid_formats_fails() -> None:
    service = hsds_example("service_full.json")
    service["email"] = "not-an-email"
    service["url"] = "example.com/no-scheme"
    service["last_modified"] = "yesterday"
    service["id"] = "42"
    assert validate_hsds(service, "service") == [
        "$.email: 'not-an-email' is not a 'email'",
        "$.id: '42' is not a 'uuid'",
        "$.last_modified: 'yesterday' is not a 'date-time'",
        "$.url: 'example.com/no-scheme' is not a 'uri'",
    ]


def test_hsds_service_without_required_fields_fails() -> None:
    service = hsds_example("service_full.json")
    del service["name"]
    service["status"] = "open"
    errors = validate_hsds(service, "service")
    assert "$: 'name' is a required property" in errors
    assert any(error.startswith("$.status: 'open' is not one of") for error in errors)


def test_hsds_nested_objects_are_checked() -> None:
    service = hsds_example("service_full.json")
    service["organization"]["email"] = "nobody"
    del service["phones"][0]["number"]
    assert validate_hsds(service, "service") == [
        "$.organization.email: 'nobody' is not a 'email'",
        "$.phones[0]: 'number' is a required property",
    ]


def test_hsds_relative_refs_resolve_in_per_object_schemas() -> None:
    """taxonomy_term.json refs "taxonomy.json" and "metadata.json" relatively."""
    term = hsds_example("taxonomy_term.json")
    term["taxonomy_detail"]["uri"] = "not a uri"
    del term["description"]
    assert validate_hsds(term, "taxonomy_term") == [
        "$.taxonomy_detail.uri: 'not a uri' is not a 'uri'",
        "$: 'description' is a required property",
    ]


def test_hsds_page_checks_envelope_and_contents() -> None:
    page = hsds_example("service_list.json")
    page["total_items"] = "many"
    page["contents"][0]["email"] = "nobody"
    del page["contents"][0]["id"]
    assert validate_hsds(page, "service_list_page") == [
        "$.contents[0].email: 'nobody' is not a 'email'",
        "$.contents[0]: 'id' is a required property",
        "$.total_items: 'many' is not of type 'integer'",
    ]


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("organization_list.json", "organization_list_page"),
        ("service_at_location_list.json", "service_at_location_list_page"),
        ("taxonomy_list.json", "taxonomy_list_page"),
        ("taxonomy_term_list.json", "taxonomy_term_list_page"),
    ],
)
def test_hsds_page_items_use_their_list_item_schema(example: str, kind: str) -> None:
    page = hsds_example(example)
    page["contents"].append({})
    index = len(page["contents"]) - 1
    errors = validate_hsds(page, kind)
    assert errors
    assert all(error.startswith(f"$.contents[{index}]: ") for error in errors), errors
    assert f"$.contents[{index}]: 'id' is a required property" in errors


def test_hsds_api_details_checks_uris() -> None:
    details = hsds_example("base.json")
    details["openapi_url"] = "openapi.json on our server"
    assert validate_hsds(details, "api_details") == [
        "$.openapi_url: 'openapi.json on our server' is not a 'uri'"
    ]


def test_hsds_errors_are_readable_strings() -> None:
    errors = validate_hsds([1, 2, 3], "service")
    assert errors == ["$: [1, 2, 3] is not of type 'object'"]
    assert validate_hsds("x" * 10_000, "page")[0].endswith("…")


def test_hsds_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HSDS kind 'services'"):
        hsds_validator("services")


def test_unknown_reference_is_never_fetched() -> None:
    with pytest.raises(Unresolvable):
        validator_for_ref("https://example.org/schema/service.json")


def test_validators_are_cached() -> None:
    assert hsds_validator("service") is hsds_validator("service")
    assert oruk_validator("service.json") is oruk_validator(ORUK_PROFILE_PREFIX + "service.json")


# --- ORUK 3.0 -----------------------------------------------------------------------------------

ORUK_EXAMPLES = ORUK_DIR / "examples"
ORUK_MOCKS = ORUK_DIR / "mocks"

#: Mock or example file name -> the ORUK schema of that response.
ORUK_DOCUMENT_SCHEMAS = {
    "api_details.json": "api_details.json",
    "organization.json": "organization.json",
    "organization_full.json": "organization.json",
    "organization_list.json": "organization_list.json",
    "service_at_location_full.json": "service_at_location.json",
    "service_at_location_list.json": "service_at_location_list.json",
    "service_full.json": "service.json",
    "service_list.json": "service_list.json",
    "taxonomy.json": "taxonomy.json",
    "taxonomy_list.json": "taxonomy_list.json",
    "taxonomy_term.json": "taxonomy_term.json",
    "taxonomy_term_list.json": "taxonomy_term_list.json",
}
# Validator dashboard UI payloads in mocks/Default, not HSDS responses: deliberately not tested.
ORUK_NOT_RESPONSES = {"dashboard_service_details_response.json", "dashboard_services_response.json"}

#: The documents the Fail and Warn feeds break on purpose, with errors they must produce.
ORUK_BROKEN_MOCKS = {
    ("Fail", "api_details.json"): ["$: 'profile' is a required property"],
    ("Fail", "service_list.json"): [
        "$.contents[0]: 'name' is a required property",
        "$.contents[0].email: 'email-example_com' is not a 'email'",
    ],
    ("Fail", "service_full.json"): ["$.email: 'email-example_com' is not a 'email'"],
    ("Fail", "taxonomy_term.json"): ["$: 'description' is a required property"],
    ("Warn", "taxonomy_term.json"): ["$: 'description' is a required property"],
}


def oruk_mocks() -> list[tuple[str, str]]:
    return [
        (path.parent.name, path.name)
        for path in sorted(ORUK_MOCKS.glob("*/*.json"))
        if path.name not in ORUK_NOT_RESPONSES
    ]


def mock_param(feed: str, name: str) -> Any:
    return pytest.param(feed, name, id=f"{feed}/{name}")


def test_every_oruk_document_is_accounted_for() -> None:
    names = {path.name for path in ORUK_MOCKS.glob("*/*.json")}
    names |= {path.name for path in ORUK_EXAMPLES.glob("*.json")}
    assert names == set(ORUK_DOCUMENT_SCHEMAS) | ORUK_NOT_RESPONSES
    assert {folder.name for folder in ORUK_MOCKS.iterdir()} == {"Default", "Fail", "Warn"}
    assert set(ORUK_DOCUMENT_SCHEMAS.values()) <= ORUK_SCHEMAS


@pytest.mark.parametrize("example", sorted(path.name for path in ORUK_EXAMPLES.glob("*.json")))
def test_oruk_example_validates(example: str) -> None:
    document = load(ORUK_EXAMPLES / example)
    assert validate_oruk(document, ORUK_DOCUMENT_SCHEMAS[example]) == []


@pytest.mark.parametrize(
    ("feed", "name"),
    [mock_param(*mock) for mock in oruk_mocks() if mock not in ORUK_BROKEN_MOCKS],
)
def test_oruk_mock_validates(feed: str, name: str) -> None:
    """All of Default, and whatever the Fail and Warn feeds leave intact (no false positives)."""
    document = load(ORUK_MOCKS / feed / name)
    assert validate_oruk(document, ORUK_DOCUMENT_SCHEMAS[name]) == []


@pytest.mark.parametrize(
    ("feed", "name"), [mock_param(*mock) for mock in sorted(ORUK_BROKEN_MOCKS)]
)
def test_oruk_broken_mock_fails(feed: str, name: str) -> None:
    errors = validate_oruk(load(ORUK_MOCKS / feed / name), ORUK_DOCUMENT_SCHEMAS[name])
    missing = [error for error in ORUK_BROKEN_MOCKS[feed, name] if error not in errors]
    assert not missing, errors


def test_oruk_fail_service_list_reports_every_item() -> None:
    errors = validate_oruk(load(ORUK_MOCKS / "Fail" / "service_list.json"), "service_list.json")
    assert [f"$.contents[{i}]: 'name' is a required property" for i in range(4)] == [
        error for error in errors if error.endswith("'name' is a required property")
    ]
    assert "$.contents[2].email: False is not of type 'string'" in errors
    assert "$.contents[3].email: 12345 is not of type 'string'" in errors


#: Test-profile endpoint -> the Default mock of its response.
ORUK_PROFILE_MOCKS = {
    "/": "api_details.json",
    "/services": "service_list.json",
    "/services/": "service_full.json",
    "/taxonomies": "taxonomy_list.json",
    "/taxonomies/": "taxonomy.json",
    "/taxonomy_terms": "taxonomy_term_list.json",
    "/taxonomy_terms/": "taxonomy_term.json",
    "/service_at_locations": "service_at_location_list.json",
    "/service_at_locations/": "service_at_location_full.json",
}


def profile_tests() -> list[tuple[str, str]]:
    profile = load(ORUK_DIR / "test-profile" / "HSDS-UK-3.0.json")
    return [
        (test["endpoint"], test["schema"])
        for group in profile["testGroups"]
        for test in group["tests"]
    ]


@pytest.mark.parametrize(("endpoint", "schema"), profile_tests())
def test_oruk_test_profile_schemas_validate_default_mocks(endpoint: str, schema: str) -> None:
    """The profile's ``V3.0-UK/x.json`` schema values map onto oruk-3.0/schema/."""
    assert schema.startswith(ORUK_PROFILE_PREFIX)
    document = load(ORUK_MOCKS / "Default" / ORUK_PROFILE_MOCKS[endpoint])
    assert validate_oruk(document, schema) == []


#: GET endpoint of the ORUK OpenAPI -> the Default mock of its response.
ORUK_ENDPOINT_MOCKS = {
    "/": "api_details.json",
    "/services": "service_list.json",
    "/services/{id}": "service_full.json",
    "/organizations": "organization_list.json",
    "/organizations/{id}": "organization.json",
    "/service_at_locations": "service_at_location_list.json",
    "/service_at_locations/{id}": "service_at_location_full.json",
    "/taxonomies": "taxonomy_list.json",
    "/taxonomies/{id}": "taxonomy.json",
    "/taxonomy_terms": "taxonomy_term_list.json",
    "/taxonomy_terms/{id}": "taxonomy_term.json",
}


def test_every_oruk_endpoint_is_accounted_for() -> None:
    assert get_endpoints(load(ORUK_DIR / "openapi.json")) == set(ORUK_ENDPOINT_MOCKS)


@pytest.mark.parametrize(("endpoint", "mock"), sorted(ORUK_ENDPOINT_MOCKS.items()))
def test_oruk_default_mock_validates_against_openapi_response(endpoint: str, mock: str) -> None:
    validator = validator_for_ref(openapi_response_ref(ORUK_OPENAPI, endpoint))
    assert validate(validator, load(ORUK_MOCKS / "Default" / mock)) == []


def test_oruk_service_with_invalid_formats_fails() -> None:
    service = copy.deepcopy(load(ORUK_MOCKS / "Default" / "service_full.json"))
    service["last_modified"] = "2024-13-45"
    service["organization"]["id"] = "not-a-uuid"
    assert validate_oruk(service, "service.json") == [
        "$.last_modified: '2024-13-45' is not a 'date-time'",
        "$.organization.id: 'not-a-uuid' is not a 'uuid'",
    ]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("empy_list_response.json", "cannot be a root schema"),
        ("open_api.json", "cannot be a root schema"),
        ("services.json", "unknown ORUK schema"),
        ("V3.0-UK/nothing.json", "unknown ORUK schema"),
    ],
)
def test_oruk_non_schemas_are_refused(schema: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        oruk_validator(schema)
