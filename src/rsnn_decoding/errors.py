"""User-facing errors: one line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any


class UserError(Exception):
    """A problem the user can fix; the message names the file or key, the problem and the fix."""


def one_line(message: str) -> str:
    """Collapse a message to a single line."""
    return " ".join(str(message).split())


def fail(message: str, code: int = 1) -> None:
    """Print one `error:` line on stderr (and into a log file, if one is set up) and exit."""
    line = f"error: {one_line(message)}"
    logger = logging.getLogger("rsnn_decoding")
    if any(isinstance(h, logging.FileHandler) for h in logger.handlers):
        logger.error(line)
    print(line, file=sys.stderr)
    sys.exit(code)


def run_cli(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run fn; on UserError (or a missing file) print one line on stderr and exit 1."""
    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        name = exc.filename if exc.filename is not None else str(exc)
        fail(f"{name}: file not found; check the path")
    except KeyboardInterrupt:
        fail("interrupted", code=130)
