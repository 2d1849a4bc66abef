"""Genotypes are validated values: canonical strings round-trip, bad input is refused."""

import json

import numpy as np
import pytest

from nas.spaces.nb201.genotype import (EDGES, Genotype, GenotypeError, all_op_indices, dead_mask, genotype_from_indices,
                          space_positions)

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_string_round_trip_and_id():
    g = Genotype.from_str(BEST)
    assert g.to_str() == BEST and str(g) == BEST
    assert g.genotype_id == Genotype.from_str(BEST).genotype_id and len(g.genotype_id) == 10
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert hash(g) == hash(Genotype(tuple(g.ops)))


@pytest.mark.parametrize("bad", [
    "", "|nor_conv_3x3~0|", BEST.replace("nor_conv_1x1~2", "nor_conv_1x1~1"),
    BEST.replace("skip_connect", "conv_9x9"), BEST.replace("|+|", "|"), BEST[1:], 42,
])
def test_invalid_strings_raise(bad):
    with pytest.raises(GenotypeError):
        Genotype.from_str(bad)


def test_from_dict_checks_string_against_ops():
    d = Genotype.from_str(BEST).to_dict()
    d["ops"][0] = "none"
    with pytest.raises(GenotypeError, match="disagree"):
        Genotype.from_dict(d)


def test_space_has_15625_cells_and_341_dead():
    ops = all_op_indices()
    assert ops.shape == (15625, len(EDGES)) and len({tuple(r) for r in ops}) == 15625
    dead = dead_mask()
    assert dead.sum() == 341  # the NB201 benchmark's count of cells without an input-output path
    rng = np.random.default_rng(0)
    for i in rng.choice(15625, 300, replace=False):
        assert genotype_from_indices(ops[i]).is_dead() == dead[i]


def test_dead_examples():
    assert Genotype(("none",) * 6).is_dead()
    assert not Genotype(("none", "none", "none", "skip_connect", "none", "none")).is_dead()
    assert Genotype(("skip_connect", "none", "none", "none", "none", "none")).is_dead()


def test_space_positions_index_all_op_indices():
    rows = [0, 7, 15624, 3125]
    archs = [str(genotype_from_indices(all_op_indices()[i])) for i in rows]
    assert list(space_positions(archs)) == rows
