"""Structured logs: one JSON object a line, with the request id of the request being served.

The standard logging, with a JSON formatter: every library's log lines (uvicorn's,
SQLAlchemy's) come out the same way. The request id is kept in a context variable
set by the request middleware (api/observability.py); a log line written while a
request is served, in its task or in a worker thread it started, carries it.

What is logged never holds a secret (an API key, a code, a token, a password) or
personal data (an e-mail address, a phone number): log ids, not values.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("cagnotte_request_id", default=None)

# The attributes every LogRecord has; anything else was passed with `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's message again, for terminals
)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: time, level, logger, message, process, request id,
    extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # Which worker wrote it, when several serve.
            "process": record.process,
        }
        current = getattr(record, "request_id", None) or request_id.get()
        if current is not None:
            line["request_id"] = current
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig: JSON lines on stderr for every logger (uvicorn's too).

    Given to uvicorn as its log_config, so that each worker process sets it up.
    Uvicorn's own access log stays off: the application writes its own
    ("cagnotte.access"), with the route template and the request id and without
    the query string.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cagnotte.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # A line per plugin at every migration: noise.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
