"""The model sections: the model family and its search space, the training, the adversary."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from hepopt.config.schema.base import Section
from hepopt.config.schema.search import ObjectiveConfig


class ParamSpec(Section):
    """A searched hyperparameter, as Optuna's ``suggest_*`` take it."""

    type: Literal["int", "float", "categorical"]
    """How it is sampled."""
    low: float | None = None
    """Lower end of an int or float range."""
    high: float | None = None
    """Upper end of an int or float range."""
    step: float | None = None
    """Step of the range (for the grid sampler, a float range needs one)."""
    log: bool = False
    """Sample uniformly in the logarithm (``low`` > 0; no ``step``)."""
    choices: list[Any] | None = None
    """The values of a categorical parameter."""
    per_layer: bool = False
    """For ``units``: one width per hidden layer (``units_0``, ``units_1``, ...), each sampled only
    when the sampled depth has that layer (a conditional parameter)."""

    @model_validator(mode="after")
    def _complete(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                msg = "a categorical parameter needs a non-empty 'choices' list"
                raise ValueError(msg)
            return self
        if self.low is None or self.high is None:
            msg = f"an {self.type} parameter needs 'low' and 'high'"
            raise ValueError(msg)
        if self.low > self.high:
            msg = f"'low' ({self.low:g}) is above 'high' ({self.high:g})"
            raise ValueError(msg)
        if self.log and self.low <= 0:
            msg = "a log-uniform parameter needs 'low' > 0"
            raise ValueError(msg)
        if self.log and self.step is not None:
            msg = "'step' and 'log' cannot be combined"
            raise ValueError(msg)
        return self


class ModelConfig(Section):
    """The model family and its search space (a scalar fixes a parameter)."""

    family: str = "mlp"
    """A ``hepopt.models`` entry point (``mlp``, ``hist_gradient_boosting``) or ``package.module:Class``."""
    space: dict[str, ParamSpec | float | int | str | bool] = {}
    """Hyperparameter name -> a range to search, or a value to fix (the family's and the training's)."""
    compare: list[str] = []
    """Other families trained once with their defaults on the same splits and scored with the same
    objectives, reported next to the search's best (e.g. ``[hist_gradient_boosting]``)."""

    def may_set(self, name: str, value: Any) -> bool:
        """Whether a trial can have ``name`` = ``value``: the space fixes it so, or searches it
        among choices that hold it (a parameter left out keeps hepopt's default, not asked here)."""
        spec = self.space.get(name)
        if isinstance(spec, ParamSpec):
            return value in (spec.choices or [])
        return spec == value


class InferenceAwareConfig(Section):
    """The statistical model of the inference-aware loss (trials with ``loss: inference_aware``
    in ``model.space``). Unset, each setting is that of the ``robust_significance`` objective
    among the objectives (its fixed bins, its ``mc_stat``), so the network is trained for the
    model it is scored with."""

    variations: list[str] | None = None
    """The variations that make the nuisances (``x_up``/``x_down`` pair into one; default: all)."""
    bins: int | list[float] | None = None
    """Equal bins of the output in [0, 1], or the edges (default: the objective's, else 10)."""
    mc_stat: bool | None = None
    """The MC statistical uncertainty of each bin in the loss (default: the objective's, else true)."""
    template_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    """The share of each batch on which a file-based variation's change is estimated: less
    costs fewer passes through the network, but noisy templates mislead the loss (on the INFERNO
    benchmark 0.5 was as good as 1, 0.25 failed): lower it only with many events per part."""


class TrainingConfig(Section):
    """How each classifier trains (its hyperparameters are in ``model.space``)."""

    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where it trains; ``auto`` takes CUDA when torch sees it."""
    negative_weights: Literal["keep", "abs", "zero"] = "abs"
    """Negative generator weights in training only (yields and objectives keep their signs)."""
    threads: int | None = Field(default=None, ge=1)
    """torch threads per training (default 1: trials use the cores side by side, see ``search.workers``)."""
    early_stopping: Literal["val_loss", "objective"] = "val_loss"
    """What early stopping watches: the validation loss, or the first objective on validation (an
    epoch is better only by more than the hyperparameter ``min_delta``, for ``patience`` epochs)."""
    train_on_variations: bool | list[str] = False
    """Data augmentation: the classifier trains on the nominal events and on each of these
    variations' events (``true``: all variations), the usual baseline next to the adversary.
    Early stopping and the objectives stay on the nominal validation events."""
    inference_aware: InferenceAwareConfig = InferenceAwareConfig()
    """The model of the inference-aware loss (see :class:`InferenceAwareConfig`)."""


class AdversaryConfig(Section):
    """The adversary of adversarial training: which variations it must not be able to tell apart.

    ``kind: classifier`` predicts which variation an event comes from (nominal or one of
    ``variations``); ``kind: mdn`` is the mixture-density adversary of Louppe et al. that models
    the nuisance parameter, here the value per variation given in ``values`` (nominal is 0).
    """

    variations: list[str] | None = None
    """The variations it sees (default: all)."""
    kind: Literal["classifier", "mdn"] = "classifier"
    """A classifier of the variation, or a mixture density of the nuisance parameter."""
    values: dict[str, float] = {}
    """``mdn``: the nuisance parameter's value per variation (nominal 0), unless per event (``nuisance``)."""
    use_label: bool = True
    """Give the adversary the class label too (it then learns the dependence per class)."""
    components: int = Field(default=5, ge=1)
    """``mdn``: Gaussian components of the mixture."""
    keep: Literal["best", "last"] = "best"
    """The adversarial epoch kept: the best on validation (by ``keep_by``), or the last (as in the paper)."""
    keep_by: ObjectiveConfig | None = None
    """``keep: best`` chooses by this objective on validation (default: the search's first), e.g.
    ``{name: output_shift}`` (the JSD under the variations) or ``{name: robust_significance}``."""
