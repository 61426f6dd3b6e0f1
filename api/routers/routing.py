"""What several routers declare alike: routes whose bodies leave out empty fields, and the
documented 404 of the routes under one record's path."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

Responses = dict[int | str, dict[str, Any]]


class WithoutEmptyFields(APIRoute):
    """A route whose response model leaves out empty (null) fields: the services shape these
    bodies without them, and the model that checks a body on its way out keeps it so."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **{**kwargs, "response_model_exclude_none": True})


def record_router(path: str, not_found: str) -> APIRouter:
    """The routes of one record (``path``, e.g. ``/{referral_id}``) of a resource whose bodies
    leave out empty fields: each may answer 404, described as ``not_found``. Included into the
    resource's router after its routes are declared."""
    return APIRouter(
        prefix=path,
        responses={404: {"description": not_found}},
        route_class=WithoutEmptyFields,
    )
