"""What every section of the config shares: unknown keys rejected, values frozen, no inf or NaN,
and each field's docstring as its description (the generated config reference reads them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _as_list(value: Any) -> Any:
    """Let a single file pattern be written as a string."""
    return [value] if isinstance(value, str) else value


FileList = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]

STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)


class Section(BaseModel):
    """A section of ``hepopt.yaml``. Unknown keys are errors (a typo such as ``n_trails`` names
    the key instead of being ignored); a number cannot be ``.inf`` or ``.nan``."""

    model_config = STRICT
