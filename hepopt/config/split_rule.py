"""How events are divided into training, validation and test: the rule the config states and
:func:`hepopt.data.splits.assign_splits` applies (a value, so the data layer needs no config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SplitRule:
    """By fractions drawn from a hash (``modulo`` None), or by ``key % modulo`` residues.

    Attributes:
        fractions: expected train, validation and test fractions (hash mode).
        modulo: the divisor of the event's split key (modulo mode).
        validation: residues that go to validation (modulo mode).
        test: residues that go to test (modulo mode); all other residues train.
    """

    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    modulo: int | None = None
    validation: tuple[int, ...] = ()
    test: tuple[int, ...] = ()

    def describe(self, column: str | None = None) -> str:
        """As a person writes it: ``hash of (seed, dataset, event id): 60/20/20 %`` or
        ``event % 5: test 0, validation 1, train the rest``."""
        if self.modulo is None:
            train, validation, test = (f"{f:.0%}" for f in self.fractions)
            return f"hash of (seed, dataset, event id): train {train}, validation {validation}, test {test}"
        key = column or "event id"
        listed = ", ".join
        return (
            f"({key}) % {self.modulo}: test {listed(map(str, self.test))}, "
            f"validation {listed(map(str, self.validation))}, train the rest"
        )
