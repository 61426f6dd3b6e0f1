"""Offline JSON Schema validation against Open Referral HSDS 3.1 and ORUK (HSDS-UK) 3.0.

The specification files live outside the repository, in ``../shared/standards`` relative to the
repository root (see its README.md); they are read at run time and never copied here. Nothing is
fetched from the network: every schema file is registered in one `referencing.Registry` under
the URI its referrers use, and the registry has no retrieval fallback, so an unknown ``$ref``
raises `referencing.exceptions.Unresolvable` instead of being downloaded.

URIs registered:

* ``HSDS_BASE + <path>`` for every file under ``hsds-3.1/schema/`` (including ``compiled/`` and
  ``openapi.json``). ``HSDS_BASE`` is the remote prefix the HSDS OpenAPI document uses (it names
  the 3.0 branch, but mapping it to these 3.1 files is the intent), and because the per-object
  schemas sit in that same "directory", their relative ``$ref``s (``"phone.json"``) resolve too.
* ``ORUK_BASE + <name>`` and ``ORUK_LEGACY_BASE + <name>`` for every ``oruk-3.0/schema/*.json``,
  and ``ORUK_OPENAPI`` for ``oruk-3.0/openapi.json``.

Validators use JSON Schema Draft 2020-12 (the HSDS OpenAPI ``jsonSchemaDialect``) unless the target
schema declares another ``$schema``, with format checking on: ``email`` (jsonschema only requires
an "@"), ``uri``, ``date-time`` and ``uuid`` are enforced; ``uri`` and ``date-time`` need the
``rfc3986-validator`` and ``rfc3339-validator`` packages (dev dependencies), and building a
validator fails loudly without them rather than letting bad values pass. Validators are built
lazily and cached for the life of the process.

Typical use in a test::

    assert validate_hsds(response.json(), "service_list_page") == []
    assert validate_oruk(response.json(), "service_list.json") == []
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urldefrag

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "HSDS_BASE",
    "HSDS_DIR",
    "HSDS_KINDS",
    "HSDS_OPENAPI",
    "ORUK_BASE",
    "ORUK_DIR",
    "ORUK_LEGACY_BASE",
    "ORUK_OPENAPI",
    "ORUK_PROFILE_PREFIX",
    "ORUK_SCHEMAS",
    "STANDARDS_DIR",
    "hsds_validator",
    "openapi_response_ref",
    "oruk_validator",
    "registry",
    "validate",
    "validate_hsds",
    "validate_oruk",
    "validator_for_ref",
]

#: ``../shared/standards`` relative to the repository root (this file is ``<root>/tests/...``).
STANDARDS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "standards"
HSDS_DIR = STANDARDS_DIR / "hsds-3.1"
ORUK_DIR = STANDARDS_DIR / "oruk-3.0"

#: Remote prefix of the HSDS schemas, as written in ``hsds-3.1/schema/openapi.json``.
HSDS_BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
HSDS_OPENAPI = HSDS_BASE + "openapi.json"
#: Remote prefix of the ORUK schemas, as written in ``oruk-3.0/openapi.json`` and the schemas.
ORUK_BASE = "https://openreferraluk.org/specifications/3.0/schema/"
#: The hosted location of ``oruk-3.0/openapi.json`` (the folder above ``schema/``).
ORUK_OPENAPI = "https://openreferraluk.org/specifications/3.0/openapi.json"
#: Older prefix, used only by ``oruk-3.0/schema/open_api.json``; mapped to the same files.
ORUK_LEGACY_BASE = (
    "https://raw.githubusercontent.com/tpximpact/OpenReferralApi/refs/heads/main/"
    "OpenReferralApi/Schemas/V3.0-UK/"
)
#: Prefix of the ``schema`` values in the ORUK validator's test profile (``V3.0-UK/x.json``).
ORUK_PROFILE_PREFIX = "V3.0-UK/"

# Files of oruk-3.0/schema/ that are registered (others may point at them) but are not schemas
# a response can be validated against.
_ORUK_NOT_ROOT_SCHEMAS = MappingProxyType(
    {
        "open_api.json": "an (older) OpenAPI document, not a JSON Schema",
        "empy_list_response.json": 'a template whose contents items are "$ref": "" (itself)',
    }
)

# Formats this module promises to check; without them an invalid email or URI would pass.
_REQUIRED_FORMATS = frozenset({"email", "uri", "date-time", "uuid"})
_MAX_MESSAGE = 500


def openapi_response_ref(
    openapi_uri: str, path: str, method: str = "get", status: str = "200"
) -> str:
    """The URI of the JSON response schema of ``method path`` in an OpenAPI document.

    ``openapi_response_ref(HSDS_OPENAPI, "/services")`` points at
    ``.../openapi.json#/paths/~1services/get/responses/200/content/application~1json/schema``.
    """
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", status, "content", "application/json")
    )
    return f"{openapi_uri}#/{pointer}/schema"


def _hsds_kinds() -> dict[str, str]:
    kinds = {
        # Every per-object schema by its own name: "location", "phone", "address", ...
        path.stem: HSDS_BASE + path.name
        for path in sorted((HSDS_DIR / "schema").glob("*.json"))
        if path.name != "openapi.json"
    }
    kinds.update(
        {
            # GET / : the API details object, defined inline in the OpenAPI document.
            "api_details": openapi_response_ref(HSDS_OPENAPI, "/"),
            # Responses by id: the fully nested (compiled) schemas, as the OpenAPI declares.
            # (GET /service_at_locations/{id} wrongly declares compiled/service.json upstream, so
            # "service_at_location" uses compiled/service_at_location.json instead.)
            "service": HSDS_BASE + "compiled/service.json",
            "organization": HSDS_BASE + "compiled/organization.json",
            "service_at_location": HSDS_BASE + "compiled/service_at_location.json",
            # List items on their own (the items of a page's "contents").
            "service_list_item": HSDS_BASE + "compiled/service_list.json",
            "organization_list_item": HSDS_BASE + "compiled/organization_list.json",
            "service_at_location_list_item": HSDS_BASE + "compiled/service_at_location_list.json",
            # Paged list envelopes: the OpenAPI's own response schemas, i.e. the Page component
            # plus "contents" items checked against the matching list-item schema.
            "service_list_page": openapi_response_ref(HSDS_OPENAPI, "/services"),
            "organization_list_page": openapi_response_ref(HSDS_OPENAPI, "/organizations"),
            "service_at_location_list_page": openapi_response_ref(
                HSDS_OPENAPI, "/service_at_locations"
            ),
            "taxonomy_list_page": openapi_response_ref(HSDS_OPENAPI, "/taxonomies"),
            "taxonomy_term_list_page": openapi_response_ref(HSDS_OPENAPI, "/taxonomy_terms"),
            # The Page envelope alone, whatever "contents" holds.
            "page": HSDS_OPENAPI + "#/components/schemas/Page",
        }
    )
    # "taxonomy" and "taxonomy_term" are the per-object schemas: there is no compiled version.
    return kinds


#: HSDS 3.1 kind -> schema URI. Per-object schemas under their own names (``"location"``,
#: ``"taxonomy"``, ``"taxonomy_term"``...), except that ``"service"``, ``"organization"`` and
#: ``"service_at_location"`` are the compiled (fully nested) response schemas; plus
#: ``"api_details"`` (``GET /``), ``"<x>_list_item"``, ``"<x>_list_page"`` and ``"page"``.
HSDS_KINDS: Mapping[str, str] = MappingProxyType(_hsds_kinds())

#: ORUK 3.0 schema files a document can be validated against (``service_list.json``...).
ORUK_SCHEMAS: frozenset[str] = frozenset(
    path.name
    for path in (ORUK_DIR / "schema").glob("*.json")
    if path.name not in _ORUK_NOT_ROOT_SCHEMAS
)


def _resource(path: Path) -> Resource[Any]:
    """A schema file as a resource; Draft 2020-12 unless the file declares its own ``$schema``."""
    contents = json.loads(path.read_text(encoding="utf-8"))
    return Resource.from_contents(contents, default_specification=DRAFT202012)


def _local_resources() -> Iterator[tuple[str, Resource[Any]]]:
    hsds_schema = HSDS_DIR / "schema"
    for path in sorted(hsds_schema.rglob("*.json")):
        yield HSDS_BASE + path.relative_to(hsds_schema).as_posix(), _resource(path)
    for path in sorted((ORUK_DIR / "schema").glob("*.json")):
        resource = _resource(path)
        yield ORUK_BASE + path.name, resource
        yield ORUK_LEGACY_BASE + path.name, resource
    yield ORUK_OPENAPI, _resource(ORUK_DIR / "openapi.json")


@cache
def registry() -> Registry[Any]:
    """Every local HSDS and ORUK schema file under the URIs their referrers use (built once).

    The registry has no ``retrieve`` callable, so it can never fetch anything.
    """
    if not STANDARDS_DIR.is_dir():
        raise FileNotFoundError(f"HSDS/ORUK specification folder not found: {STANDARDS_DIR}")
    return Registry().with_resources(_local_resources())


@cache
def validator_for_ref(ref: str) -> Validator:
    """A cached validator for the schema at ``ref``: a registered URI, optionally with a fragment.

    Raises `referencing.exceptions.Unresolvable` at once if ``ref`` is not in the registry.
    """
    registry().resolver().lookup(ref)  # fail now, not at validation time, if ref is unknown
    # The dialect is the one its document declares ($schema), else Draft 2020-12.
    document = registry().contents(urldefrag(ref).url)
    cls = validator_for(document, default=Draft202012Validator)
    checker = cls.FORMAT_CHECKER
    missing = _REQUIRED_FORMATS - set(checker.checkers)
    if missing:
        raise RuntimeError(
            f"format checks {sorted(missing)} unavailable: install rfc3986-validator and "
            "rfc3339-validator (make venv)"
        )
    validator: Validator = cls({"$ref": ref}, registry=registry(), format_checker=checker)
    return validator


def hsds_validator(kind: str) -> Validator:
    """The cached HSDS 3.1 validator for ``kind``, one of `HSDS_KINDS` (e.g. ``"service"``)."""
    try:
        ref = HSDS_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown HSDS kind {kind!r}; expected one of {sorted(HSDS_KINDS)}"
        ) from None
    return validator_for_ref(ref)


def oruk_validator(schema_file: str) -> Validator:
    """The cached ORUK 3.0 validator for ``schema_file`` in ``oruk-3.0/schema/``.

    ``schema_file`` is a file name such as ``"service_list.json"`` or a test-profile value such as
    ``"V3.0-UK/service_list.json"``.
    """
    name = schema_file.removeprefix(ORUK_PROFILE_PREFIX)
    if name in _ORUK_NOT_ROOT_SCHEMAS:
        raise ValueError(f"{name} is {_ORUK_NOT_ROOT_SCHEMAS[name]}; it cannot be a root schema")
    if name not in ORUK_SCHEMAS:
        raise ValueError(
            f"unknown ORUK schema {schema_file!r}; expected one of {sorted(ORUK_SCHEMAS)}"
        )
    return validator_for_ref(ORUK_BASE + name)


def _describe(error: ValidationError) -> str:
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return f"{error.json_path}: {message}"


def validate(validator: Validator, document: Any) -> list[str]:
    """Every error of ``document`` as ``"<JSON path>: <message>"``, sorted; ``[]`` when valid."""
    return sorted(_describe(error) for error in validator.iter_errors(document))


def validate_hsds(document: Any, kind: str) -> list[str]:
    """Errors of ``document`` against the HSDS 3.1 schema for ``kind``; ``[]`` when valid."""
    return validate(hsds_validator(kind), document)


def validate_oruk(document: Any, schema_file: str) -> list[str]:
    """Errors of ``document`` against ORUK 3.0 ``schema_file``; ``[]`` when valid."""
    return validate(oruk_validator(schema_file), document)
