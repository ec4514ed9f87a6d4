"""Plain, trained-on-variations, adversarial and inference-aware training on the Z' -> tt example,
side by side.

Trains the same network on the example's nominal samples alone (lambda = 0), on the nominal and
JES-varied samples together (data augmentation, ``training.train_on_variations``), fine-tuned on the
expected uncertainty on mu with the JES profiled (``loss: inference_aware``, without the MC statistics
as below), and against an adversary
that tries to tell nominal from JES-varied events by the output (one column per lambda; the
adversarial epoch kept is the one with the best significance-with-JES, without the MC statistics,
on the validation split),
and reports on the test split: the stat-only Asimov significance, the significance with the JES variation profiled
(pyhf histosys), the Jensen-Shannon divergence nominal vs. each variation per class, and the AUC of
a probe adversary. Writes the table (Markdown) and the output plots under results/adversarial/.

    python analyses/zprime_ttbar/compare_adversarial.py [--lambdas 1 3 10 30] [--config hepopt.yaml]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.objectives import make_objective
from hepopt.results.plots import variation_plot
from hepopt.scoring.evaluation import evaluate_classifier
from hepopt.scoring.trial import TrialRunner
from hepopt.training import TrainParams
from hepopt.training.adversary import AdversarySpec
from hepopt.training.inference_aware_sets import AwareSpec
from hepopt.training.sets import TrainingSets

HERE = Path(__file__).parent
ROWS = [
    ("stat-only significance", "asimov_significance"),
    ("significance with JES profiled, no MC stat", "robust_significance_without_mc_stat"),
    ("significance with JES profiled and MC stat", "robust_significance"),
    ("JSD jes_up, signal (bit)", "jsd/jes_up/signal"),
    ("JSD jes_up, background (bit)", "jsd/jes_up/background"),
    ("JSD jes_down, signal (bit)", "jsd/jes_down/signal"),
    ("JSD jes_down, background (bit)", "jsd/jes_down/background"),
    ("JSD mean (bit)", "jsd_mean"),
    ("KS distance mean", "ks_mean"),
    ("probe adversary AUC", "adversary_auc"),
    ("ROC AUC", "roc_auc"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "hepopt.yaml")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0])
    args = parser.parse_args()

    config = load_config(args.config)
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, config.data.split.rule(), config.seed)
    spec = AdversarySpec(("jes_up", "jes_down"))
    # The adversarial epoch is kept by the profiled significance without the MC statistics: with
    # them, the example's few simulated background events per bin leave every model near zero.
    objective = make_objective("robust_significance", {"mc_stat": False})
    aware = AwareSpec(variations=spec.variations, bins=10, mc_stat=False)
    runner = TrialRunner(sets, (objective,), "abs", config.seed, spec, inference_aware=aware)
    augmented = replace(runner, augment=spec.variations)
    out = config.output_dir / "adversarial"
    metrics = {}
    runs = [("plain", 0.0), ("on_variations", 0.0), ("inference_aware", 0.0)]
    runs += [(f"adversarial_lambda{lam:g}", lam) for lam in args.lambdas]
    for label, adv_lambda in runs:
        loss = "inference_aware" if label == "inference_aware" else "bce"
        params = TrainParams(max_epochs=20, patience=4, adv_lambda=adv_lambda, adv_epochs=10, adv_steps=5, loss=loss)
        classifier = (augmented if label == "on_variations" else runner).run(params).classifier
        metrics[label] = evaluate_classifier(classifier, sets, "test", adversary=spec, seed=config.seed)
        variation_plot(classifier, sets, "test", out / f"variations_{label}.png", title=label.replace("_", " "))
    header = " | ".join(
        [
            "plain (lambda = 0)",
            "trained on variations",
            "inference-aware",
            *(f"lambda = {lam:g}" for lam in args.lambdas),
        ]
    )
    lines = [
        f"| test split | {header} |",
        "|---" * (len(runs) + 1) + "|",
        *(f"| {name} | " + " | ".join(f"{metrics[label][key]:.4g}" for label, _ in runs) + " |" for name, key in ROWS),
    ]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(text + "\n")
    print(text)
    print(f"\nplots and table in {out}")


if __name__ == "__main__":
    main()
