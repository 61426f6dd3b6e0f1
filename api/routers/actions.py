"""Routes that each do one thing to a record, named by a verb (``POST …/{id}/suspend``), where
the endpoints differ only in a value the same function is made with."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter

Action = tuple[str, str, Callable[..., Awaitable[Any]]]


def add_actions(router: APIRouter, record: str, noun: str, *actions: Action, **route: Any) -> None:
    """Declare ``POST {record}/{verb}`` on ``router`` for each ``(verb, summary, endpoint)``, in
    the order given, named ``{verb}_{noun}`` (the name its operation id is made of); ``route``:
    what else each route declares alike (``response_model``…)."""
    for verb, summary, endpoint in actions:
        router.add_api_route(
            f"{record}/{verb}",
            endpoint,
            methods=["POST"],
            summary=summary,
            name=f"{verb}_{noun}",
            **route,
        )
