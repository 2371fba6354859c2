"""Logging for workflow steps: one log file per rule, progress bars written into it."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import IO, Iterable, TypeVar

from tqdm import tqdm

from samderm.fault_injection import hold_memory_ballast

T = TypeVar("T")
_log_stream: IO[str] | None = None


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send samderm's log records (and warnings) to ``log_path`` and to stderr."""
    global _log_stream
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        _log_stream = open(log_path, "a", buffering=1, encoding="utf-8")
        handlers.append(logging.StreamHandler(_log_stream))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    sys.excepthook = _log_uncaught  # a failing job's traceback lands in its log, not only on stderr
    hold_memory_ballast(log_path)
    return logging.getLogger("samderm")


def _log_uncaught(kind, value, traceback) -> None:
    logging.getLogger("samderm").critical("the job failed", exc_info=(kind, value, traceback))


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """A tqdm bar in the rule's log (updates at most every few seconds so logs stay short)."""
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        file=_log_stream or sys.stderr,
        mininterval=5.0 if _log_stream else 0.5,
        dynamic_ncols=False,
        ncols=100,
    )
