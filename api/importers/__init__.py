"""Importers of public data into the directory: Open Referral feeds (``hsds``), health
facilities (``facilities``) and administrative areas (``areas``).

The facility and area importers give every row ``source`` and ``source_id`` and derive its
primary key from them (``record_id``), so importing the same file twice inserts nothing new: the
writes are ``INSERT ... ON CONFLICT DO NOTHING`` (api/repositories/imports.py). A facility, or
an HSDS feed's organisation, location or service, whose source row changed since the last
import is updated in place (``update_changed``), field by field, only where a value differs.
"""

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Fixed for good: changing it would give every imported row a new id on the next import.
IMPORT_NAMESPACE = uuid.UUID("9b1e3f64-2c57-4a8e-b0d3-5f7a1c2e8d49")


@dataclass(frozen=True)
class Refused:
    """Why a row is not imported: a fixed phrase, never the row's values."""

    reason: str
    detail: str = ""


class ImportFileError(ValueError):
    """The file cannot be imported at all (wrong shape, not UTF-8). The message names columns or
    positions, never values."""


def record_id(source: str, source_id: str, table: str, *extra: str) -> uuid.UUID:
    """The primary key of the ``table`` row made from one source row: the same on every run and
    every installation."""
    return uuid.uuid5(IMPORT_NAMESPACE, "/".join((source, source_id, table, *extra)))


def read_json(path: Path) -> Any:
    """The JSON document in ``path``; ``ImportFileError`` when it is not UTF-8 JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ImportFileError("not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise ImportFileError(f"not JSON (line {error.lineno})") from error
