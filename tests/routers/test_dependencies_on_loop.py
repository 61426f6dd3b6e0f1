"""Every route's endpoint and every dependency it declares, however deep, is a coroutine: FastAPI
runs anything else (a plain function, a class) in its thread pool, a hop per request that the
search measured (bench/README.md: synchronous dependencies became ``async def``)."""

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import api.routers


def _routes() -> Iterator[APIRoute]:
    for module in pkgutil.iter_modules(api.routers.__path__):
        found = importlib.import_module(f"api.routers.{module.name}")
        for value in vars(found).values():
            if isinstance(value, APIRouter):
                yield from (route for route in value.routes if isinstance(route, APIRoute))


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _on_the_loop(call: Callable[..., Any]) -> bool:
    if inspect.isclass(call):
        return False
    function = call if inspect.isroutine(call) else type(call).__call__
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def test_every_endpoint_and_dependency_runs_on_the_event_loop() -> None:
    routes = list(_routes())
    assert len(routes) > 150  # every router of api/routers was found
    in_thread_pool = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', repr(call))}"
            for route in routes
            for call in (route.endpoint, *_calls(route.dependant))
            if not _on_the_loop(call)
        }
    )
    assert in_thread_pool == []


def test_a_class_or_a_plain_function_is_caught() -> None:
    def plain() -> None: ...

    class Bundle:
        pass

    async def awaited() -> None: ...

    assert not _on_the_loop(plain)
    assert not _on_the_loop(Bundle)
    assert _on_the_loop(awaited)
