"""JSON logs, one object per line, with secrets masked defensively."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"pass(word)?|token|secret|authorization|cookie", re.IGNORECASE)


def redact_secrets(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Nothing secret should be logged at all; if a key looks secret anyway, mask its value."""
    for key in list(event):
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_secrets,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # waitress warns "Task queue depth is N" for every queued request under load: a log
    # line per request that says nothing the latency metrics don't.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    for chatty in ("alembic.runtime.migration", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
