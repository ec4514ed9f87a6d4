"""The ``hepopt`` command line: thin commands over the library (``main``), the terminal display,
the batch scripts for a Ray cluster and the run's log file."""

from __future__ import annotations

from hepopt.cli.main import main

__all__ = ["main"]
