"""What an objective is: a figure of merit of a trained classifier that the search optimises."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

# The revision of the numbers hepopt's own objectives give for a config, part of every study's and
# searching stage's key: a release whose objectives score the same classifier differently (2:
# robust_significance fits the MC statistics) starts new studies instead of resuming old values.
DEFINITIONS = 2


@dataclass(frozen=True)
class VariedInputs:
    """The classifier on the events of one systematic variation (same split as the nominal).

    Attributes:
        affected: indices of the datasets that have a varied version; only their events are here.
    """

    scores: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    dataset: np.ndarray
    affected: tuple[int, ...]
    event_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class ObjectiveInputs:
    """What an objective may look at, for the events of one split (validation or test).

    Attributes:
        scores: classifier output in [0, 1] on the nominal events, signal-like near 1.
        labels: 1 for signal, 0 for background.
        weights: expected yield per event at the full luminosity (physics weights, negative
            generator weights included).
        dataset: index into ``dataset_names`` per nominal event (empty if unknown).
        variations: per systematic variation, the classifier on its varied events.
        event_id: the event number per nominal event (a varied copy has its nominal event's), which
            the bootstrap of the reported uncertainties uses to resample an event and its copies
            together; empty if unknown.
    """

    scores: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    dataset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    dataset_names: tuple[str, ...] = ()
    variations: Mapping[str, VariedInputs] = field(default_factory=dict)
    event_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # empty if unknown


@dataclass(frozen=True)
class ObjectiveResult:
    value: float
    extras: Mapping[str, float] = field(default_factory=dict)


# What an objective may ask for beyond the scores, labels and weights every objective gets:
# ``dataset`` (each event's dataset and the dataset names), ``variations`` (the classifier on the
# systematically varied events, which costs one more prediction per variation).
INPUTS = frozenset({"dataset", "variations"})


class Objective(abc.ABC):
    """A figure of merit an analysis wants optimised.

    Subclasses set ``name``, ``direction`` and ``needs`` (which of :data:`INPUTS` they read) and
    implement :meth:`evaluate`; options from the config's ``objective.options`` arrive as keyword
    arguments of ``__init__``. Objectives must be stateless and picklable (they travel to Ray and
    coffea workers).
    """

    name: ClassVar[str]
    direction: ClassVar[Literal["maximize", "minimize"]] = "maximize"
    needs: frozenset[str] = frozenset()  # an instance may widen it (a combination of objectives)

    @abc.abstractmethod
    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        """Score one trained classifier. Must not modify ``inputs`` or touch global state."""

    def is_better(self, a: float, b: float) -> bool:
        """Whether value ``a`` beats ``b`` in this objective's direction."""
        return a > b if self.direction == "maximize" else a < b
