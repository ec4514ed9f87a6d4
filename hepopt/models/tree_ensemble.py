"""A fitted ensemble of binary decision trees as a torch module, so that boosted trees are
predicted, scored, saved (plain tensors) and exported (TorchScript, ONNX) like any network.

Each tree is a padded node table; every event walks all trees at once, one level per step, with
gathers on the flattened tables: no Python loop over events or trees.
"""

from __future__ import annotations

import torch
from torch import nn

# The node tables, one row per tree (padded to the largest tree), as saved in the state dict.
TABLES = ("feature", "threshold", "left", "right", "value", "leaf", "missing_left")


class TreeEnsemble(nn.Module):
    """logit = baseline + sum over trees of the value of the leaf the event reaches.

    At an inner node an event goes left when ``x[feature] <= threshold`` (NaN goes where
    ``missing_left`` says), as scikit-learn's histogram gradient boosting predicts.
    """

    def __init__(self, n_trees: int, n_nodes: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.register_buffer("feature", torch.zeros(n_trees, n_nodes, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(n_trees, n_nodes, dtype=torch.float64))
        self.register_buffer("left", torch.zeros(n_trees, n_nodes, dtype=torch.long))
        self.register_buffer("right", torch.zeros(n_trees, n_nodes, dtype=torch.long))
        self.register_buffer("value", torch.zeros(n_trees, n_nodes, dtype=torch.float64))
        self.register_buffer("leaf", torch.ones(n_trees, n_nodes, dtype=torch.bool))
        self.register_buffer("missing_left", torch.zeros(n_trees, n_nodes, dtype=torch.bool))
        self.register_buffer("baseline", torch.zeros((), dtype=torch.float64))
        # Keeps the depth in the state dict, so a saved ensemble is rebuilt with the same walk.
        self.register_buffer("max_depth", torch.tensor(depth, dtype=torch.long))

    @classmethod
    def sized_for(cls, state: dict[str, torch.Tensor]) -> TreeEnsemble:
        n_trees, n_nodes = state["feature"].shape
        return cls(int(n_trees), int(n_nodes), int(state["max_depth"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The buffers as tensors (register_buffer's attributes are untyped for a checker; class
        # annotations would be strings TorchScript cannot resolve).
        features: torch.Tensor = self.feature  # type: ignore[assignment]
        thresholds: torch.Tensor = self.threshold  # type: ignore[assignment]
        lefts: torch.Tensor = self.left  # type: ignore[assignment]
        rights: torch.Tensor = self.right  # type: ignore[assignment]
        leaves: torch.Tensor = self.leaf  # type: ignore[assignment]
        missing_lefts: torch.Tensor = self.missing_left  # type: ignore[assignment]
        values: torch.Tensor = self.value  # type: ignore[assignment]
        baseline: torch.Tensor = self.baseline  # type: ignore[assignment]
        n_trees, n_nodes = features.shape
        x = x.to(torch.float64)  # the thresholds are float64: compare as the trees were fit
        offset = torch.arange(n_trees, device=x.device) * n_nodes  # row start of each tree
        node = torch.zeros(x.shape[0], n_trees, dtype=torch.long, device=x.device)
        feature, threshold = features.reshape(-1), thresholds.reshape(-1)
        left, right, leaf = lefts.reshape(-1), rights.reshape(-1), leaves.reshape(-1)
        missing_left = missing_lefts.reshape(-1)
        for _ in range(self.depth):
            at = node + offset
            xv = torch.gather(x, 1, feature[at])
            missing = torch.isnan(xv)  # logical ops, not a boolean where: ONNX Runtime has none
            go_left = (missing & missing_left[at]) | (~missing & (xv <= threshold[at]))
            step = torch.where(go_left, left[at], right[at])
            node = torch.where(leaf[at], node, step)
        logit = values.reshape(-1)[node + offset].sum(dim=1) + baseline
        return logit.to(torch.float32).unsqueeze(1)
