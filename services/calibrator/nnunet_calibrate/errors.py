"""Typed errors. Each maps to one exit code of the CLI contract (DESIGN.md)."""

from __future__ import annotations

from typing import Any, Sequence

EXIT_CHOSEN = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOTHING_FITS = 3


class CalibrationError(Exception):
    """Base class; `reason` is a stable PascalCase code written to the termination message."""

    reason = "CalibrationFailed"
    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.__cause__ = cause


class BadInputError(CalibrationError):
    """A missing file or a wrong field. `where` names the path or the field, so the user can fix it."""

    reason = "BadInput"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, where: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{where}: {message}", cause=cause)
        self.where = where


class NothingFitsError(CalibrationError):
    """Not even batch size 1 trained within the GPU memory (less the headroom)."""

    reason = "NothingFits"
    exit_code = EXIT_NOTHING_FITS

    def __init__(self, message: str, *, probes: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.probes = tuple(probes)


class DeviceUnavailableError(CalibrationError):
    """The torch backend was asked for CUDA on a machine without it: a placement problem, not bad input."""

    reason = "DeviceUnavailable"
    exit_code = EXIT_FAILED
