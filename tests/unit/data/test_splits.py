from __future__ import annotations

import numpy as np
import pytest

from hepopt.data import TEST, TRAIN, VALIDATION, EventTable, assign_splits, full_luminosity_scale


def table(n: int, n_variations: int = 1) -> EventTable:
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(n, dtype=np.int64), n_variations)
    size = n * n_variations
    return EventTable(
        features=rng.normal(size=(size, 2)).astype(np.float32),
        label=np.tile((np.arange(n) % 2).astype(np.int8), n_variations),
        weight=rng.uniform(0.5, 1.5, size),
        dataset=np.tile((np.arange(n) % 2).astype(np.int16), n_variations),
        variation=np.repeat(np.arange(n_variations, dtype=np.int16), n),
        event_id=ids,
        feature_names=("a", "b"),
        dataset_names=("sig", "bkg"),
        variation_names=tuple(["nominal", "jes_up", "jes_down"][:n_variations]),
    )


def test_split_is_deterministic_with_expected_fractions() -> None:
    t = table(100_000)
    split = assign_splits(t, (0.6, 0.2, 0.2), seed=5)
    np.testing.assert_array_equal(split, assign_splits(t, (0.6, 0.2, 0.2), seed=5))
    fractions = np.bincount(split, minlength=3) / len(split)
    # binomial spread of 100k draws is ~0.0015; 5 sigma
    np.testing.assert_allclose(fractions, [0.6, 0.2, 0.2], atol=0.008)
    assert not np.array_equal(split, assign_splits(t, (0.6, 0.2, 0.2), seed=6))


def test_varied_copies_of_an_event_share_its_split() -> None:
    t = table(5000, n_variations=3)
    split = assign_splits(t, (0.5, 0.25, 0.25), seed=1)
    by_variation = split.reshape(3, 5000)
    np.testing.assert_array_equal(by_variation[0], by_variation[1])
    np.testing.assert_array_equal(by_variation[0], by_variation[2])


def test_split_of_an_event_does_not_depend_on_other_events() -> None:
    t = table(1000)
    full = assign_splits(t, (0.6, 0.2, 0.2), seed=2)
    part = assign_splits(t.select(np.arange(500, 1000)), (0.6, 0.2, 0.2), seed=2)
    np.testing.assert_array_equal(full[500:], part)


@pytest.mark.parametrize("which", [TRAIN, VALIDATION, TEST])
def test_full_luminosity_scale_preserves_expected_counts(which: int) -> None:
    t = table(20_000, n_variations=2)
    split = assign_splits(t, (0.6, 0.2, 0.2), seed=3)
    factor = full_luminosity_scale(t, split, which)
    mask = split == which
    for ds in range(2):
        for var in range(2):
            group = (t.dataset == ds) & (t.variation == var)
            n_all, n_split = group.sum(), (group & mask).sum()
            np.testing.assert_allclose(factor[group & mask], n_all / n_split)


@pytest.mark.parametrize("by", ["event_number", "random"])
def test_cross_validation_folds_cover_every_event_once(by: str) -> None:
    from hepopt.data.splits import cross_validation_split

    t = table(3000, n_variations=2)
    split = assign_splits(t, (0.6, 0.2, 0.2), seed=4)
    validation_counts = np.zeros(len(t), dtype=int)
    for fold in range(3):
        cv = cross_validation_split(t, split, 3, fold, by, seed=4)
        np.testing.assert_array_equal(cv == TEST, split == TEST)  # the test split never moves
        validation_counts += cv == VALIDATION
        if by == "event_number":
            np.testing.assert_array_equal(cv[split != TEST] == VALIDATION, (t.event_id % 3 == fold)[split != TEST])
        # the varied copy of an event is in the same fold as the nominal one
        np.testing.assert_array_equal(cv[: len(t) // 2], cv[len(t) // 2 :])
    np.testing.assert_array_equal(validation_counts, (split != TEST).astype(int))


def test_modulo_split_follows_the_event_number() -> None:
    from hepopt.config.split_rule import SplitRule

    t = table(1000, n_variations=2)
    split = assign_splits(t, SplitRule(modulo=5, validation=(1, 3), test=(0,)), seed=9)
    residue = t.event_id % 5
    np.testing.assert_array_equal(split == TEST, residue == 0)
    np.testing.assert_array_equal(split == VALIDATION, np.isin(residue, [1, 3]))
    np.testing.assert_array_equal(split == TRAIN, np.isin(residue, [2, 4]))
    # the seed does not enter: the analysis' own split, whatever hepopt's seed
    np.testing.assert_array_equal(split, assign_splits(t, SplitRule(modulo=5, validation=(1, 3), test=(0,)), seed=1))


def test_modulo_split_on_a_column_and_folds_that_do_not_alias() -> None:
    from dataclasses import replace

    from hepopt.config.split_rule import SplitRule
    from hepopt.data.splits import cross_validation_split

    t = table(2000)
    column = (t.event_id * 7 + 3) // 2  # any integer column
    t = replace(t, split_key=column)
    rule = SplitRule(modulo=4, validation=(1,), test=(0,))
    split = assign_splits(t, rule, seed=0)
    np.testing.assert_array_equal(split == TEST, column % 4 == 0)
    for fold in range(3):
        cv = cross_validation_split(t, split, 3, fold, "event_number", 0, stride=4)
        np.testing.assert_array_equal(cv == TEST, split == TEST)  # the test split stays
        outside = split != TEST
        np.testing.assert_array_equal(cv[outside] == VALIDATION, (column[outside] // 4) % 3 == fold)
        assert (cv == VALIDATION).sum() > 400  # every fold holds about a third of the 1500


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"by": "modulo", "residues": {"validation": [1], "test": [1]}}, "different numbers"),
        ({"by": "modulo", "modulo": 3, "residues": {"validation": [1, 2], "test": [0]}}, "no residue of 3"),
        ({"by": "modulo", "residues": {"test": [0]}}, "both validation and test"),
        ({"by": "modulo", "residues": {"validation": [7], "test": [0]}}, r"in \[0, 4\]"),
        ({"column": "event"}, "for 'by: modulo'"),
    ],
)
def test_bad_modulo_splits_are_named(split: dict, message: str) -> None:
    from hepopt.config import config_from_dict
    from hepopt.errors import ConfigError

    from helpers import with_

    with pytest.raises(ConfigError, match=message):
        config_from_dict(with_(data={"split": split}), "c.yaml")


@pytest.mark.parametrize("split", [{}, {"by": "modulo", "modulo": 4, "residues": {"validation": [3], "test": [0]}}])
def test_a_dumped_config_reloads_with_its_split(split: dict) -> None:
    """Configs travel as their full dump (to Ray workers, to fine-tuning): every field is then set."""
    from hepopt.config import config_from_dict

    from helpers import with_

    config = config_from_dict(with_(data={"split": split}), "c.yaml")
    again = config_from_dict(config.model_dump(mode="json", by_alias=True), "c.yaml")
    assert again.data.split == config.data.split
