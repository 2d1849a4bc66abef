"""Ranking diagnostics of a finished run: a fixed probe set, tau in [-1, 1] for every metric, one
band row per device tercile, and a noise floor of 1 when both image sets are the same."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from nas.evaluation.ranking import RankingConfig, _held_out, one_shot_scores, probe_cells, ranking_rows
from nas.methods.derive import SearchRun
from nas.search import run_io
from nas.search.data import load_search_data
from nas.search.loop import run_search
from nas.search.one_shot import scorer_for
from nas.spaces import get_space
from tests.search_fixture import tiny_config, tiny_data

CFG = RankingConfig(n_probe=24, n_images=32, batch_size=16)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return run_search(tiny_config(), tmp_path_factory.mktemp("runs") / "tiny", data=tiny_data(), progress=False)


def test_probe_set_is_fixed_distinct_and_valid():
    space = get_space("nb201")
    a, b = probe_cells(space, CFG), probe_cells(space, CFG)
    assert np.array_equal(a, b) and len(np.unique(a, axis=0)) == len(a) == CFG.n_probe
    assert all(space.is_valid(space.from_indices(c)) for c in a)


def test_rows_cover_every_metric_and_band(run_dir):
    df = pd.DataFrame(ranking_rows(run_dir, CFG, data=tiny_data()))
    assert set(df["metric"]) == {"n_images", "tau_all", "tau_top", "tau_band", "noise_floor", "tau_generator"}
    assert df.loc[df["metric"] != "n_images", "value"].dropna().between(-1, 1).all()
    bands = df[df["metric"] == "tau_band"]
    assert sorted(set(bands["device"])) == ["eyeriss", "raspi4", "titan_rtx_1"]
    assert bands.groupby("device")["band"].apply(sorted).map(lambda b: b == [1, 2, 3]).all()
    assert bands.groupby("device")["n"].sum().eq(CFG.n_probe).all()


def test_same_images_give_the_same_scores(run_dir):
    data = tiny_data()
    space = get_space("nb201")
    net = space.supernet(4, 1, data.in_channels, data.n_classes)
    net.load_state_dict(run_io.load_supernet_state(run_dir))
    cells = probe_cells(space, CFG)[:6]
    images = _held_out(data, CFG.n_images, 0)
    assert np.array_equal(one_shot_scores(net, cells, *images, 16), one_shot_scores(net, cells, *images, 16))


def test_a_small_run_scores_on_the_images_it_has_and_says_how_many(run_dir):
    df = pd.DataFrame(ranking_rows(run_dir, RankingConfig(n_probe=12, n_images=10_000), data=tiny_data()))
    assert df.loc[df["metric"] == "n_images", "value"].item() == 96 // 2


def test_probe_scores_of_each_ranking_config_are_cached_apart(run_dir):
    from nas.evaluation.ranking import probe_cache_name, probe_scores

    assert probe_cache_name(RankingConfig()) == "probe_scores.csv"
    assert probe_cache_name(RankingConfig(n_images=2048)) == "probe_scores_2048img.csv"
    names = {probe_cache_name(c) for c in (CFG, RankingConfig(n_probe=12, n_images=32, batch_size=16))}
    assert len(names) == 2 and all(n.startswith("probe_scores_") and n.endswith(".csv") for n in names)
    small = RankingConfig(n_probe=12, n_images=16, batch_size=16)
    first = probe_scores(run_dir, small, data=tiny_data())
    probe_scores(run_dir, replace(small, n_images=32), data=tiny_data())  # another cache file, not an overwrite
    assert (run_dir / probe_cache_name(small)).is_file() and (run_dir / probe_cache_name(replace(small, n_images=32))).is_file()
    again = probe_scores(run_dir, small, data=tiny_data())  # read back from its own cache
    assert np.array_equal(first[1], again[1]) and again[3] == 16


def test_rerank_scorer_uses_the_run_s_image_count(run_dir):
    """A run loaded for derivation re-ranks on its ``score_images`` held-out images; each count its own scorer."""
    run = SearchRun.load(run_dir)
    few, more = replace(run, score_images=16).scorer(), replace(run, score_images=32).scorer()
    assert few is scorer_for(run_dir, 16) and few is not more
    assert len(few.labels) == 16 and len(more.labels) == 32
    cells = probe_cells(get_space("nb201"), CFG)[:4]
    held_out = _held_out(load_search_data(run.config), 16, 0)  # the first 16 images of the hypernetwork half
    expected = one_shot_scores(few.supernet, cells, *held_out, few.batch_size)
    assert np.allclose(few(cells), expected)
