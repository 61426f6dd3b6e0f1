"""SQLModel table classes. Importing this package registers every table on the metadata."""

from api.models.base import metadata

__all__ = ["metadata"]
