"""Logging for a container: one line per record on stdout, readable text or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time

from supervisor.settings import LogFormat


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: LogFormat, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter (panoramisk logs raw traffic at DEBUG) never goes below WARNING.
    for noisy in ("panoramisk", "aiohttp.access", "watchdog", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
