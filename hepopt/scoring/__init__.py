"""Train one model and score it: the trial runner (one training, its objectives and constraints on
the validation split), cross-validated runners, and the standard metrics on the test split. Used by
the search, the elimination and the results alike; it knows nothing of either."""

from __future__ import annotations
