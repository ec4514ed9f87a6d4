"""Everything physicists ask of one trained classifier, on one split: significances (stat-only and
with the systematics profiled), how much its output moves under each variation, and how well a
fresh adversary still sees the variations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepopt.objectives.binning import bin_edges
from hepopt.objectives.builtin import AsimovSignificance, RocAuc
from hepopt.objectives.robust import RobustSignificance, shift_metrics

if TYPE_CHECKING:
    from hepopt.objectives.base import ObjectiveInputs
    from hepopt.training.adversary import AdversarySpec
    from hepopt.training.classifier import Classifier
    from hepopt.training.sets import TrainingSets


METRIC_BINS = 10  # the standard metrics' binned significances: equal bins in [0, 1]


def evaluate_classifier(
    classifier: Classifier,
    sets: TrainingSets,
    split: str = "test",
    *,
    adversary: AdversarySpec | None = None,
    bins: int = METRIC_BINS,
    seed: int = 0,
    inputs: ObjectiveInputs | None = None,
) -> dict[str, float]:
    """Metrics of ``classifier`` on ``split``; the systematic ones only when there are variations.

    Keys: ``asimov_significance``, ``roc_auc``; with variations also ``robust_significance`` (the
    systematics and the MC statistics profiled) and ``robust_significance_without_mc_stat``,
    ``jsd/<variation>/<class>``, ``ks/<variation>/<class>``, ``jsd_mean``, ``ks_mean``; with an
    adversary spec also ``adversary_auc`` (a probe adversary, see ``probe_adversary_auc``).
    """
    from hepopt.scoring.trial import objective_inputs

    if inputs is None:  # callers that already predicted on this split pass their inputs
        inputs = objective_inputs(classifier, sets, split)
    metrics = {
        "asimov_significance": AsimovSignificance(bins).evaluate(inputs).value,
        "roc_auc": RocAuc().evaluate(inputs).value,
    }
    if inputs.variations:
        metrics["robust_significance"] = RobustSignificance(bins).evaluate(inputs).value
        metrics["robust_significance_without_mc_stat"] = RobustSignificance(bins, mc_stat=False).evaluate(inputs).value
        metrics.update(shift_metrics(inputs, bin_edges(20)))
    if adversary is not None:
        from hepopt.training.adversary import probe_adversary_auc

        metrics["adversary_auc"] = probe_adversary_auc(classifier.model, sets, adversary, classifier.params, seed=seed)
    return metrics
