"""Structured logs: one JSON object per line on stderr.

Log lines carry ids, codes, routes and durations. They never carry request bodies, query values,
headers, tokens or exception messages (a database error message can quote the row it refused).
"""

import logging
import sys
from typing import Any

import structlog

from api.config import LogFormat, Settings


def configure_logging(settings: Settings) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format is LogFormat.json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # uvicorn's access log repeats what our request line says, with the query string: silence it.
    logging.getLogger("uvicorn.access").disabled = True
    # Authlib logs issued tokens and client ids at DEBUG: never let those records exist.
    logging.getLogger("authlib").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


def exception_location(exc: BaseException) -> dict[str, Any]:
    """Where an exception was raised, without its message: type, then file:line of each frame."""
    frames = []
    traceback = exc.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        frames.append(f"{code.co_filename.rsplit('/site-packages/', 1)[-1]}:{traceback.tb_lineno}")
        traceback = traceback.tb_next
    return {"exception_type": type(exc).__qualname__, "frames": frames[-8:]}
