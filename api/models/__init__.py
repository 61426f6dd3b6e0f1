"""SQLModel table classes. Importing this package registers every table on the metadata."""

from api.models.base import metadata
from api.models.oauth import OAuthAssertion, OAuthClient, OAuthToken
from api.models.organization import Organization

__all__ = ["OAuthAssertion", "OAuthClient", "OAuthToken", "Organization", "metadata"]
