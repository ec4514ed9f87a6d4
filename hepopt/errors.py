"""Exceptions raised by hepopt.

Every error a user can cause derives from :class:`HepoptError`; the CLI turns it into one line on
stderr and exit code 1. Messages name the file, tree, branch or config key and what was expected.
"""

from __future__ import annotations


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
