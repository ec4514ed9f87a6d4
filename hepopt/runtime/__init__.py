"""The process hepopt runs in: the cores it may use, signals, file locks, and the caller's state
(torch threads, environment, matplotlib) kept and restored. The ground floor: imports no other
part of hepopt except the errors."""

from __future__ import annotations
