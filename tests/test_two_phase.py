"""The two-phase schedule: one shared phase-1 supernet per seed, the generator alone against it; fair paths."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nas.search import run_io
from nas.search.config import SearchConfig
from nas.search.data import resize_images
from nas.search.loop import run_search
from nas.search.shared_supernet import phase1_config, supernet_run_name
from nas.search.step import Stepper, build_state
from tests.search_fixture import tiny_config, tiny_data

TWO_PHASE = dict(schedule="two-phase", supernet_epochs=2, epochs=2, warmup_epochs=0, val_batch_size=48,
                 reinforce_samples=4, snapshot_every=1)


def _state(path):
    return torch.load(path, weights_only=True)


def test_methods_of_one_seed_share_one_phase1_supernet_and_phase2_leaves_it_unchanged(tmp_path):
    ours = tiny_config(**TWO_PHASE)
    plain = replace(ours, method="darts", hypernet="alpha", devices=("params",), loss="none", estimator="relaxed",
                    weight_paths="hypernet").validate()
    assert supernet_run_name(ours) == supernet_run_name(plain)  # the method does not shape the weights
    a = run_search(ours, tmp_path / "ours", data=tiny_data(), progress=False, supernets_dir=tmp_path / "sn")
    b = run_search(plain, tmp_path / "darts", data=tiny_data(), progress=False, supernets_dir=tmp_path / "sn")
    (shared,) = [p for p in (tmp_path / "sn").iterdir() if not p.name.startswith(".")]
    info_a, info_b = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert info_a["supernet_run"] == info_b["supernet_run"] == f"../sn/{shared.name}"
    assert info_a["supernet_seconds"] == json.loads((shared / "run.json").read_text())["search_seconds"]
    assert not (a / run_io.SUPERNET).exists() and run_io.supernet_folder(a) == shared.resolve()
    # phase 2 trains the generator alone: the checkpointed supernet equals the shared weights
    shared_w = _state(shared / run_io.SUPERNET)
    for d in (a, b):
        after = torch.load(d / run_io.CHECKPOINT, weights_only=False)["supernet"]
        assert all(torch.equal(shared_w[k], after[k]) for k in shared_w)
    assert sorted(run_io.snapshots(shared)) == [1, 2]
    history = run_io.load_history(a)
    assert {"entropy_lam0", "entropy_lam1"} <= set(history.columns) and len(history) == 2


def test_phase1_key_follows_the_fields_that_shape_the_weights():
    cfg = tiny_config(**TWO_PHASE)
    assert supernet_run_name(cfg) == supernet_run_name(replace(cfg, a_lr=0.5, epochs=7, threads=1))
    for change in (dict(seed=1), dict(resolution=4), dict(path_sampling="fair"), dict(supernet_epochs=3)):
        assert supernet_run_name(cfg) != supernet_run_name(replace(cfg, **change))
    p1 = phase1_config(cfg)
    assert p1.epochs == cfg.supernet_epochs and p1.method == SearchConfig().method


def test_fair_paths_train_every_op_of_every_edge_once_per_round():
    cfg = tiny_config(path_sampling="fair", **TWO_PHASE)
    data = tiny_data()
    st = build_state(cfg, data.in_channels, data.n_classes, 1)
    stepper = Stepper(cfg, st, penalty=None)
    n_edges, n_ops = stepper.arch_shape
    for _ in range(3):
        paths = torch.stack([stepper.fair_path() for _ in range(n_ops)])  # (n_ops, n_edges)
        assert all(sorted(paths[:, e].tolist()) == list(range(n_ops)) for e in range(n_edges))
    stepper.start_epoch()
    assert not stepper._fair_round


@pytest.mark.parametrize("bad, match", [(dict(order="second", estimator="relaxed"), "order=first"),
                                        (dict(path_sampling="fair", mode="mixed"), "single-path"),
                                        (dict(path_sampling="often"), "path_sampling")])
def test_invalid_two_phase_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(tiny_config(**TWO_PHASE), **bad).validate()


def test_resize_keeps_uint8_and_the_mean_of_each_block():
    x = torch.randint(0, 256, (3, 2, 8, 8), dtype=torch.uint8)
    y = resize_images(x, 4)
    assert y.dtype == torch.uint8 and y.shape == (3, 2, 4, 4)
    block = x[0, 0, :2, :2].float().mean()
    assert abs(float(y[0, 0, 0, 0]) - float(block)) <= 0.5
    assert resize_images(x, 8) is x


def test_search_cost_counts_the_shared_phase1_once(tmp_path):
    from nas.evaluation.scores import shared_phase1_seconds
    from nas.methods.derive import SearchRun

    cfg = tiny_config(**TWO_PHASE)
    runs = [run_search(replace(cfg, a_lr=lr), tmp_path / f"r{i}", data=tiny_data(), progress=False,
                       supernets_dir=tmp_path / "sn") for i, lr in enumerate((1e-3, 1e-2))]
    phase1 = json.loads(next(Path(tmp_path / "sn").glob("supernet_*/run.json")).read_text())["search_seconds"]
    assert shared_phase1_seconds([SearchRun.load(r) for r in runs]) == pytest.approx(phase1)


def test_supernet_normalises_every_path_by_its_own_batch_in_training_and_scoring():
    """No running statistics anywhere in a supernet: a one-shot score (eval mode) sees what training saw."""
    from nas.spaces import get_space

    net = get_space("nb201").supernet(4, 1, 3, 10)
    assert not any("running" in k for k in net.state_dict())
    x, index = torch.randn(8, 3, 8, 8), torch.tensor([3, 1, 2, 4, 0, 3])
    with torch.no_grad():
        train_out = net.train()(x, None, index)
        assert torch.equal(train_out, net.eval()(x, None, index))


def test_no_none_paths_never_sample_the_zero_op():
    cfg = tiny_config(path_sampling="no-none", **TWO_PHASE)
    data = tiny_data()
    stepper = Stepper(cfg, build_state(cfg, data.in_channels, data.n_classes, 1), penalty=None)
    logits = stepper._uniform_logits()
    none = 0  # "none" is the first NB201 primitive
    assert torch.isinf(logits[:, none]).all() and (logits[:, 1:] == 0).all()
    trn = next(data.epoch_batches(0, 32, 0))[0]
    assert "train_loss" in stepper.weight_step(torch.tensor(0.0), 0, 1.0, trn, uniform=True)


def test_ablation_tables_label_settings_by_the_fields_that_differ(tmp_path):
    import pandas as pd

    from nas.evaluation.ablation import phase1_rows, phase2_rows, summary

    cfg = tiny_config(**TWO_PHASE)
    for lr in (1e-3, 1e-2):
        run_search(replace(cfg, a_lr=lr), tmp_path / "phase2" / f"lr{lr}" / "run", data=tiny_data(), progress=False,
                   supernets_dir=tmp_path / "sn")
    (folder,) = [p for p in (tmp_path / "sn").iterdir() if not p.name.startswith(".")]
    ranking = pd.DataFrame([{"run_id": folder.name, "metric": "tau_all", "band": 0, "value": 0.25},
                            {"run_id": folder.name, "metric": "tau_epoch", "band": 1, "value": 0.1}])
    rows1 = phase1_rows(tmp_path / "sn", ranking)
    assert {r["metric"] for r in rows1} == {"phase1_seconds", "tau_all", "tau_epoch_1"}
    assert rows1[0]["setting"] == "resolution=native supernet_epochs=2 path_sampling=uniform"
    rows2 = phase2_rows(tmp_path / "phase2")
    assert {r["setting"].split()[3] for r in rows2} == {"a_lr=0.001", "a_lr=0.01"}
    assert rows2[0]["setting"].startswith("resolution=native supernet_epochs=2 path_sampling=uniform a_lr=")
    from nas.evaluation.ablation import PHASE1_LABEL_FIELDS, _label  # fields at their default stay unnamed
    assert _label(replace(cfg, w_lr_min=cfg.w_lr, split_edge=3), PHASE1_LABEL_FIELDS) == (
        f"resolution=native supernet_epochs=2 path_sampling=uniform split_edge=3 w_lr_min={cfg.w_lr}")
    joint = run_search(tiny_config(w_lr_min=cfg.w_lr), tmp_path / "phase2" / "joint" / "run", data=tiny_data(),
                       progress=False)  # a joint run: its own row kind, its own supernet's tau from ranking.csv
    pd.DataFrame([{"run_id": joint.name, "metric": "tau_all", "value": 0.4},
                  {"run_id": "another_run", "metric": "tau_all", "value": -0.9}]).to_csv(joint.parent / "ranking.csv")
    pd.DataFrame([{"run_id": rid, "rule": "first-fit", "margin": False, "rerank": 0, "metric": "mean_regret",
                   "value": v} for rid, v in ((joint.name, 1.5), ("another_run", 9.0))]).to_csv(
        joint.parent / "budget_rules.csv")
    rows = [r for r in phase2_rows(tmp_path / "phase2") if r["ablation"] == "joint"]
    (j,) = [r for r in rows if r["metric"] == "tau_all"]
    assert j["value"] == 0.4 and j["setting"].startswith("epochs=") and f"w_lr_min={cfg.w_lr}" in j["setting"]
    assert [r["value"] for r in rows if r["metric"] == "regret[first-fit]"] == [1.5]
    table = summary(rows1 + rows2)
    assert set(table["ablation"]) == {"phase1", "phase2"} and (table["seeds"] == 1).all()
