"""A tiny search used by the tests (also run as a script by the kill-and-resume test)."""

import sys
from dataclasses import replace

from nas.search.config import config_for_profile
from nas.search.loop import run_search
from nas.search.data import from_arrays

TINY = dict(dataset="synthetic", n_train=96, n_val=96, C=4, N=1, batch_size=32, epochs=3, warmup_epochs=1,
            schedule="joint", snapshot_every=0,
            devices=("raspi4", "titan_rtx_1", "eyeriss"), lut_n_fit=60)


def tiny_data(seed: int = 0):
    from nas.data.datasets import synthetic_arrays

    a = synthetic_arrays(192, 1, shape=(8, 8, 3), n_classes=10, seed=seed)
    return from_arrays(a.x_train, a.y_train, 96, 96, 10)


def tiny_config(**overrides):
    return replace(config_for_profile("smoke", **TINY), **overrides).validate()


if __name__ == "__main__":  # python tests/search_fixture.py OUT EPOCHS
    run_search(tiny_config(epochs=int(sys.argv[2])), sys.argv[1], data=tiny_data(), progress=False)
