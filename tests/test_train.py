"""Retraining (``nas.train``): config checks, run-folder files, exact resume, augmentation, schedules.

Every run is a tiny NB201 network (C=4, N=1) on a few hundred seeded synthetic 16x16 images, on CPU.
"""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import torch

from nas import cli
from nas.search.run_files import RunError
from nas.search.serialise import parse_set
from nas.train import run_io
from nas.train.config import TRAIN_PROFILES, TrainConfig, run_name, train_config_for_profile
from nas.train.data import cutout, load_train_data, random_crop, random_flip
from nas.spaces import register_space, unregister_space
from nas.train.loop import build_state, set_drop_path, train_architecture
from tiny_space import TinyNet, TinySpace  # pytest puts tests/ on sys.path (no __init__.py)

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY = dict(genotype=ARCH, n_train=128, n_test=64, epochs=2, batch_size=32)


def tiny(**over) -> TrainConfig:
    return train_config_for_profile("smoke", **{**TINY, **over})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch run folder with cutout (uninterrupted) and its result."""
    out = tmp_path_factory.mktemp("train") / "full"
    return out, train_architecture(tiny(cutout=4), out, progress=False)


@pytest.mark.parametrize("field, value, words", [
    ("space", "nope", "space must be one of"),
    ("dataset", "mnist", "dataset must be one of"),
    ("genotype", "|conv~0|", "not a nb201 genotype"),
    ("genotype", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "no path"),
    ("epochs", 0, "epochs must be >= 1"),
    ("lr_min", 1.0, "lr_min <= lr"),
    ("drop_path", 1.0, "drop_path must be in [0, 1)"),
    ("cutout", -1, "cutout must be >= 0"),
    ("device", "tpu", "device must be cpu or cuda"),
    ("epochs", 1.5, "epochs=1.5 is not of type int"),
])
def test_validation_names_the_bad_field(field, value, words):
    with pytest.raises(ValueError, match="invalid TrainConfig") as exc:
        tiny(**{field: value})
    assert words in str(exc.value)


def test_profiles_validate_and_round_trip():
    for name in TRAIN_PROFILES:
        cfg = train_config_for_profile(name)
        assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert train_config_for_profile("full").cutout == 16 and train_config_for_profile("smoke").dataset == "synthetic"
    with pytest.raises(ValueError, match="unknown profile"):
        train_config_for_profile("huge")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"epochz": 3})
    assert parse_set(["epochs=3", "drop_path=0.2", "data_root=None"], TrainConfig) == \
        {"epochs": 3, "drop_path": 0.2, "data_root": None}
    assert run_name(tiny()).startswith("nb201_") and run_name(tiny()).endswith("_synthetic_s0")


def test_finished_run_writes_its_files(finished):
    out, result = finished
    assert {p.name for p in out.iterdir()} >= {"config.json", "checkpoint.pt", "history.csv", "result.json"}
    assert json.loads((out / "result.json").read_text()) == json.loads(json.dumps(result))
    assert result["finished"] and result["epochs"] == 2 and result["genotype"] == ARCH
    assert 0 <= result["test_acc_pct"] <= 100 and math.isfinite(result["test_loss"])
    assert result["n_train"] == 128 and result["n_test"] == 64 and result["train_seconds"] > 0
    assert result["provenance"]["config"] == tiny(cutout=4).to_dict()
    net = build_state(tiny(cutout=4), load_train_data(tiny())).net
    assert result["params"] == sum(p.numel() for p in net.parameters())
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [1, 2] and hist["seconds"].is_monotonic_increasing
    assert hist["test_acc_pct"].isna().tolist() == [True, False]  # eval_every=0: only after the last epoch
    assert hist["test_acc_pct"].iloc[-1] == result["test_acc_pct"]


def test_interrupted_run_resumes_to_identical_weights(finished, tmp_path):
    out, result = finished
    cfg = tiny(cutout=4)
    assert train_architecture(cfg, tmp_path, progress=False, stop_after=1) == {"finished": False, "epoch": 1}
    assert not (tmp_path / "result.json").exists() and len(pd.read_csv(tmp_path / "history.csv")) == 1
    torch.manual_seed(123)  # the global RNG is restored from the checkpoint, not inherited
    resumed = train_architecture(cfg, tmp_path, progress=False)
    for key in ("test_acc_pct", "test_loss", "train_loss", "params"):
        assert resumed[key] == result[key]
    a = torch.load(out / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    a_hist, b_hist = (pd.read_csv(d / "history.csv").drop(columns=["seconds"]) for d in (out, tmp_path))
    assert a_hist.equals(b_hist)


def test_finished_run_is_not_retrained_and_other_config_is_refused(finished, tmp_path):
    out, result = finished
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "checkpoint.pt").read_bytes()
    again = train_architecture(tiny(cutout=4, threads=1), copy, progress=False)
    assert again == json.loads((copy / "result.json").read_text())
    assert (copy / "checkpoint.pt").read_bytes() == before  # threads is a location field: same run, untouched
    with pytest.raises(RunError, match=r"another config \(fields \['cutout', 'epochs'\]\)"):
        train_architecture(tiny(epochs=3), copy, progress=False)
    (copy / "result.json").unlink()
    with pytest.raises(RunError, match="another config"):  # an unfinished folder is checked too
        train_architecture(tiny(lr=0.1), copy, progress=False)


def test_random_crop_and_flip_move_pixels_without_changing_them():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (16, 3, 8, 8), dtype=torch.uint8)
    crop = random_crop(x, 4, g)
    assert crop.shape == x.shape and crop.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for img, src in zip(crop, padded):  # each crop is the zero-padded image at one offset
        assert any(torch.equal(img, src[:, dy:dy + 8, dx:dx + 8]) for dy in range(9) for dx in range(9))
    flip = random_flip(x, g)
    assert all(torch.equal(f, s) or torch.equal(f, s.flip(-1)) for f, s in zip(flip, x))
    assert torch.equal(random_crop(x, 0, g), x)


def test_cutout_zeroes_one_square_of_the_given_side():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, 20, 20) + 1.0
    out = cutout(x, 6, g)
    for img, src in zip(out, x):
        zero = img[0] == 0
        assert torch.equal(img[1] == 0, zero)  # the same square in every channel
        assert torch.equal(img[:, ~zero], src[:, ~zero])  # the rest untouched
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert int(zero.sum()) == h * w and 1 <= h <= 6 and 1 <= w <= 6  # one rectangle, clipped at borders
        if 0 < rows.min() and rows.max() < 19 and 0 < cols.min() and cols.max() < 19:
            assert h == w == 6
    assert torch.equal(cutout(x, 0, g), x)


def test_batches_are_fixed_by_seed_and_epoch():
    data = load_train_data(tiny(dataset="synthetic"))
    data.pad, data.flip = 4, True  # exercise every augmentation draw
    first = [x for x, _ in data.epoch_batches(1, 32, seed=0, cutout_px=4)]
    again = [x for x, _ in data.epoch_batches(1, 32, seed=0, cutout_px=4)]
    other = [x for x, _ in data.epoch_batches(2, 32, seed=0, cutout_px=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_lr_follows_the_cosine_schedule(finished):
    out, _ = finished
    cfg = tiny(epochs=4, lr=0.1, lr_min=0.01)
    st = build_state(cfg, load_train_data(cfg))
    for e in range(cfg.epochs):
        want = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * e / cfg.epochs))
        assert st.optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-9)
        st.optimizer.step()  # no gradients: leaves the weights, keeps the scheduler's call order
        st.scheduler.step()
    assert pd.read_csv(out / "history.csv")["lr"].tolist() == pytest.approx([0.025, 0.0125])


def test_drop_path_rises_linearly_on_networks_that_have_it():
    cfg = tiny(epochs=4, drop_path=0.2)
    net = torch.nn.Linear(2, 2)
    assert set_drop_path(cfg, net, 2) is None and not hasattr(net, "drop_path_prob")
    net.drop_path_prob = 0.0
    assert [set_drop_path(cfg, net, e) for e in range(4)] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert net.drop_path_prob == pytest.approx(0.15)


class DropNet(TinyNet):
    """TinyNet that drops each sample's cell output with probability ``drop_path_prob`` (global RNG)."""

    drop_path_prob = 0.0

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            out = cell(x)
            if self.training and self.drop_path_prob > 0:
                keep = 1.0 - self.drop_path_prob
                out = out * torch.bernoulli(torch.full((len(x), 1, 1, 1), keep)) / keep
            x = out
        return self.classifier(self.head(x).mean(dim=(2, 3)))


class DropSpace(TinySpace):
    name = "tiny-drop"

    def network(self, genotype, C=4, N=1, in_channels=3, n_classes=10):
        return DropNet(C, N, in_channels, n_classes, genotype)


@pytest.fixture
def drop_space():
    register_space(DropSpace())
    yield DropSpace.name
    unregister_space(DropSpace.name)


def test_result_records_the_commit_the_training_started_on(tmp_path, monkeypatch):
    """A training resumed on another commit still names the commit its first epoch ran on."""
    import nas.train.run_io as train_io

    cfg = tiny(cutout=4)
    monkeypatch.setattr(train_io, "git_commit", lambda: "abc1234")
    train_architecture(cfg, tmp_path, progress=False, stop_after=1)
    monkeypatch.setattr(train_io, "git_commit", lambda: "def5678")
    result = train_architecture(cfg, tmp_path, progress=False)
    assert result["provenance"]["git_commit_at_start"] == "abc1234"
    assert json.loads((tmp_path / "result.json").read_text())["provenance"]["git_commit_at_start"] == "abc1234"


def test_stochastic_network_gets_drop_path_and_resumes_exactly(drop_space, tmp_path):
    cfg = tiny(space=drop_space, genotype="|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|", drop_path=0.3,
               epochs=3)
    whole = train_architecture(cfg, tmp_path / "whole", progress=False)
    assert whole["drop_path_applied"]
    assert pd.read_csv(tmp_path / "whole" / "history.csv")["drop_path_prob"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    train_architecture(cfg, tmp_path / "parts", progress=False, stop_after=2)  # epoch 2 drew from the global RNG
    assert train_architecture(cfg, tmp_path / "parts", progress=False)["test_loss"] == whole["test_loss"]
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)["model"] for d in ("whole", "parts"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_easy_task_is_learnt(tmp_path):
    r = train_architecture(tiny(n_train=512, n_test=256, C=8, epochs=3, lr=0.1), tmp_path, progress=False)
    assert r["test_acc_pct"] > 50  # 10 classes: chance is 10 %


def test_cli_trains_and_prints_a_summary(tmp_path, capsys):
    argv = ["train", "--profile", "smoke", "--genotype", ARCH, "--set", "n_train=64", "n_test=32", "--out",
            str(tmp_path / "run")]
    assert cli.main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert f"test accuracy {result['test_acc_pct']:.2f} %" in line and f"{result['params']:,} params" in line
    assert cli.main(argv[:-1] + [str(tmp_path / "run")]) == 0  # finished: reported, not retrained
    assert cli.main(["train", "--profile", "smoke", "--genotype", "|bad~0|", "--out", str(tmp_path / "x")]) == 2
    assert "not a nb201 genotype" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
