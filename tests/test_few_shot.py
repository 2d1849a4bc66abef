"""Few-shot supernets: one copy per op of the split edge, identical until the split, then trained apart."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nas.search import run_io
from nas.search.config import SearchConfig
from nas.search.few_shot import FewShotSupernet, build_supernet
from nas.search.loop import run_search
from nas.search.shared_supernet import supernet_run_name
from nas.search.step import Stepper, build_state
from tests.search_fixture import tiny_config, tiny_data

ROOT = Path(__file__).resolve().parents[1]
TWO_PHASE = dict(schedule="two-phase", supernet_epochs=3, epochs=1, warmup_epochs=0, val_batch_size=48,
                 reinforce_samples=4, snapshot_every=0)
SPLIT = dict(split_edge=3, split_epoch=1)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_before_the_split_every_path_runs_the_first_copy_and_equals_the_plain_supernet():
    cfg = tiny_config(**TWO_PHASE, **SPLIT)
    torch.manual_seed(0)
    few = build_supernet(cfg, 3, 10)
    torch.manual_seed(0)
    plain = build_supernet(replace(cfg, split_edge=-1), 3, 10)
    assert isinstance(few, FewShotSupernet) and len(few.parts) == 5
    x = torch.randn(4, 3, 8, 8)
    for op in range(5):
        index = torch.tensor([3, 1, 2, op, 0, 3])
        assert few.part_of(index) == 0
        assert torch.equal(few(x, None, index), plain(x, None, index))
    with pytest.raises(ValueError, match="single paths"):
        few(x, torch.ones(6, 5), None)


def test_split_copies_weights_and_momentum_then_each_path_trains_only_its_own_copy():
    cfg = tiny_config(**TWO_PHASE, **SPLIT)
    data = tiny_data()
    st = build_state(cfg, data.in_channels, data.n_classes, 1)
    stepper = Stepper(cfg, st, penalty=None)
    trn = next(data.epoch_batches(0, 32, 0))[0]
    stepper.weight_step(torch.tensor(0.0), 0, 1.0, trn, uniform=True)  # part 0 gets momentum
    net = st.supernet
    net.split(st.w_optim)
    assert bool(net.is_split)
    first = list(net.parts[0].parameters())
    for part in net.parts[1:]:
        for p0, p in zip(first, part.parameters()):
            assert torch.equal(p0, p)
            if p0 in st.w_optim.state:
                assert torch.equal(st.w_optim.state[p0]["momentum_buffer"], st.w_optim.state[p]["momentum_buffer"])
    before = [_params(part) for part in net.parts]
    index = torch.tensor([3, 1, 2, 2, 0, 3])  # op 2 on the split edge
    out = net(trn[0], None, index)
    st.w_optim.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(out, trn[1]).backward()
    st.w_optim.step()
    for k, part in enumerate(net.parts):
        same = all(torch.equal(a, b) for a, b in zip(before[k], part.parameters()))
        assert same == (k != 2)


def test_a_few_shot_phase1_resumed_across_the_split_equals_one_run(tmp_path):
    cfg = tiny_config(**TWO_PHASE, **SPLIT)
    whole = run_search(cfg, tmp_path / "a", data=tiny_data(), progress=False, supernets_dir=tmp_path / "sa")
    # the same phase 1 stopped after its first epoch (before the split), then resumed
    short = replace(cfg, supernet_epochs=1, split_epoch=0)
    assert supernet_run_name(short) != supernet_run_name(cfg)
    sn = tmp_path / "sb" / supernet_run_name(cfg)
    from nas.search.shared_supernet import phase1_config
    from nas.search.loop import train_epochs

    p1 = phase1_config(cfg)
    run_io.prepare_run_dir(sn, p1.to_dict())
    st = build_state(p1, 3, 10, 1)
    train_epochs(replace(p1, epochs=1), st, tiny_data(), Stepper(p1, st, None), ["-"], lambda e: "supernet", sn,
                 progress=False)
    resumed = run_search(cfg, tmp_path / "b", data=tiny_data(), progress=False, supernets_dir=tmp_path / "sb")
    a = torch.load(run_io.supernet_folder(whole) / run_io.SUPERNET, weights_only=True)
    b = torch.load(run_io.supernet_folder(resumed) / run_io.SUPERNET, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert bool(a["is_split"])
    # after the split the copies have moved apart
    assert not torch.equal(a["parts.0.stem.0.weight"], a["parts.3.stem.0.weight"])


@pytest.mark.parametrize("bad, match", [(dict(split_edge=6), "split_edge"), (dict(split_edge=-2), "split_edge"),
                                        (dict(mode="mixed", path_sampling="uniform"), "single-path"),
                                        (dict(split_epoch=3), "split_epoch")])
def test_invalid_few_shot_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(tiny_config(**TWO_PHASE, **SPLIT), **bad).validate()


def test_committed_supernet_folders_keep_their_names():
    """Fields added later enter a phase-1 folder's key only when set: committed folders are still found."""
    folders = sorted(p.parent for p in (ROOT / "results" / "runs").glob("**/supernet_*/config.json"))
    assert folders
    for folder in folders:
        cfg = SearchConfig.from_dict(json.loads((folder / "config.json").read_text()))
        assert supernet_run_name(cfg) == folder.name
    split = replace(SearchConfig.from_dict(json.loads((folders[0] / "config.json").read_text())), **SPLIT)
    assert supernet_run_name(split) != folders[0].name
