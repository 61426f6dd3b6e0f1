"""What several routers declare alike: the viewer a directory read is for, routes whose bodies
leave out empty fields, the documented 404 of the routes under one record's path, the pair
of routers of a resource and its records, and the dependencies made of others (``assembled``)."""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from api.auth.dependencies import AnonymousOrPrincipal, MeteredAnonymousOrPrincipal
from api.auth.viewer import Viewer

Responses = dict[int | str, dict[str, Any]]
BundleT = TypeVar("BundleT")


def assembled(bundle: type[BundleT]) -> Callable[..., Awaitable[BundleT]]:
    """A dependency that makes ``bundle`` (a ``NamedTuple`` of what the routes of one record take,
    ``OnReferral``) from its fields, on the event loop: FastAPI calls a class given as a
    dependency in its thread pool, a hop per request for building a tuple."""

    async def assemble(**fields: Any) -> BundleT:
        return bundle(**fields)

    assemble.__signature__ = inspect.signature(bundle)  # type: ignore[attr-defined]
    return assemble


async def _viewer(principal: AnonymousOrPrincipal) -> Viewer:
    return Viewer.of(principal)


async def _metered_viewer(principal: MeteredAnonymousOrPrincipal) -> Viewer:
    return Viewer.of(principal)


# What of the directory the caller may see: anonymous, or as its token's scopes allow (401 for
# a bad token). Metered: on the routes that cost the database most, a caller without a token is
# counted against its address's budget.
ViewerDep = Annotated[Viewer, Depends(_viewer)]
MeteredViewerDep = Annotated[Viewer, Depends(_metered_viewer)]


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


def resource_routers(name: str, record: str, not_found: str) -> tuple[APIRouter, APIRouter]:
    """The routers of a resource at ``/v1/<name>`` (tagged ``name``) whose bodies leave out
    empty fields: the collection's, and its records' (``record_router``). The records' router
    is included into the collection's after the routes are declared."""
    collection = APIRouter(prefix=f"/v1/{name}", tags=[name], route_class=WithoutEmptyFields)
    return collection, record_router(record, not_found)
