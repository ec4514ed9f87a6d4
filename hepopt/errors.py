"""Exceptions raised by hepopt.

Every error a user can cause derives from :class:`HepoptError`; the CLI turns it into one line on
stderr and exit code 1. Messages name the file, tree, branch or config key and what was expected.
"""

from __future__ import annotations

import errno


class HepoptError(Exception):
    """Root of all errors hepopt raises on purpose."""


class ConfigError(HepoptError, ValueError):
    """The configuration file is missing, malformed or inconsistent."""


class DataError(HepoptError):
    """Input data cannot be read or turned into a table (missing tree, branch, empty selection...)."""


class PluginError(HepoptError):
    """An entry-point plugin (objective, model, stage) cannot be loaded or is not of the right type."""


class TrainingError(HepoptError):
    """A training failed, e.g. the loss diverged; the search records the trial as failed."""


class StateError(HepoptError):
    """Saved state cannot be used: a study, an event cache or a model file that is corrupt, was
    made from other inputs, or is in use by another run. The message names the file and what to do."""


class OutputError(HepoptError):
    """The output folder cannot be written: a full disk, no permission, a path through a file."""


_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space or set 'output' to another disk",
    errno.EDQUOT: "the disk quota is exceeded; free space or set 'output' to another disk",
    errno.EACCES: "no permission; set 'output' to a folder you can write",
    errno.EROFS: "read-only file system; set 'output' to a folder you can write",
    errno.ENOTDIR: "a part of this path is a file, not a folder; check 'output'",
}


def is_output_problem(err: OSError, output: object) -> bool:
    """Whether an OSError is about writing ``output`` (full, read-only, not allowed...) rather than
    about reading an input (a damaged ROOT file raises OSError too)."""
    if err.filename is not None:
        return str(err.filename).startswith(str(output))
    return err.errno in _OS_HINTS


def describe_os_error(err: OSError, where: object = None) -> str:
    """``PATH: what went wrong (what to do)``; ``where`` names the place when the error does not."""
    path = err.filename if err.filename is not None else where
    what = " ".join((err.strerror or str(err) or type(err).__name__).split())  # one line
    hint = _OS_HINTS.get(err.errno or -1)
    return (f"{path}: " if path is not None else "") + what + (f" ({hint})" if hint else "")
