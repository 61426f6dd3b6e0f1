"""Records made from rows: a dataclass whose fields are, but for those said otherwise, a row's
attributes of the same names (as the services make an Authlib record or a summary of an account
from what a repository loaded)."""

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

RecordT = TypeVar("RecordT", bound="DataclassInstance")


def record_of(kind: type[RecordT], source: object, **given: Any) -> RecordT:
    """A ``kind`` (a dataclass) whose fields are ``source``'s attributes of the same names, but
    those ``given``; a field with a default that ``source`` has no attribute for keeps it."""
    copied = {
        field.name: getattr(source, field.name)
        for field in fields(kind)
        if field.init and field.name not in given and hasattr(source, field.name)
    }
    return kind(**copied, **given)
