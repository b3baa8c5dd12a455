"""Structured logs: one JSON object per line on stderr (stdout carries only the result)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, TextIO


class Logger:
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.time, **bindings: Any) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.bindings = bindings

    def child(self, **bindings: Any) -> "Logger":
        return Logger(self.stream, self.clock, **{**self.bindings, **bindings})

    def _write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        record = {"level": level, "time": round(self.clock() * 1000), "name": "nnunet-calibrate", **self.bindings, **fields, "msg": msg}
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()

    def info(self, msg: str, **fields: Any) -> None:
        self._write("info", msg, fields)

    def warn(self, msg: str, **fields: Any) -> None:
        self._write("warn", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._write("error", msg, fields)
