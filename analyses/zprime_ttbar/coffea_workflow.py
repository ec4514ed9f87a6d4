"""The Z' -> tt analysis as a coffea workflow with hepopt as one of its steps.

    python analyses/zprime_ttbar/coffea_workflow.py [--n-trials 16]

1. the analysis' own coffea Runner reads the samples with hepopt's feature processor;
2. hepopt optimises the classifier on those columns (its stages, results in results_workflow/);
3. a second processor applies the best model and fills the classifier output per dataset and
   variation (hist), normalised to 140 fb^-1;
4. the histograms become a pyhf workspace (signal strength mu, JES as a histosys), written to
   results_workflow/workspace.json and fitted: the discovery significance with the JES profiled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=None)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep
    import optuna
    import pyhf
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    import hepopt
    from hepopt.config import load_config
    from hepopt.stats.pyhf_fit import asimov_discovery_significance
    from hepopt.workflow import ClassifierHistProcessor, feature_processor, fileset, pyhf_workspace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = load_config(HERE / "hepopt.yaml")
    config = config.model_copy(update={"output": "results_workflow", "name": "zprime_ttbar_workflow"})
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=50_000)

    out = runner(fileset(config), processor_instance=feature_processor(config))  # 1
    result = hepopt.optimize(out, config, n_trials=args.n_trials, progress=False)  # 2
    assert result is not None
    apply = ClassifierHistProcessor(config, result.files["best_model"], bins=20)  # 3
    hists = apply.normalise(runner(fileset(config), processor_instance=apply))
    workspace = pyhf_workspace(hists, config)  # 4
    folder = config.output_dir
    (folder / "workspace.json").write_text(json.dumps(workspace, indent=2))
    pyhf.Workspace(workspace)  # schema check
    z = asimov_discovery_significance({"channels": workspace["channels"]})

    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(9, 7))
    for dataset, color in zip(hists.axes["dataset"], ("tab:red", "tab:blue", "tab:green"), strict=False):
        for variation, style in (("nominal", "-"), ("jes_up", ":"), ("jes_down", "--")):
            h = hists[{"dataset": dataset, "variation": variation}]
            mplhep.histplot(h, ax=ax, color=color, linestyle=style, yerr=False, label=f"{dataset} {variation}")
    ax.set_yscale("log")
    ax.set_xlabel("classifier output")
    ax.set_ylabel("events / 140 fb$^{-1}$")
    ax.legend(fontsize=11, ncol=3)
    fig.savefig(folder / "classifier_output.png", bbox_inches="tight")
    print(f"best trial #{result.best.number}: Asimov Z (stat only, test split) {result.best.test[0]:.2f}")
    print(f"all events, 20 bins, JES profiled (pyhf, workspace.json): Z = {z:.2f}")
    print(f"written: {folder / 'workspace.json'}, {folder / 'classifier_output.png'}")


if __name__ == "__main__":
    main()
