"""One configuration of the search-step benchmark (``nas.search.bench``): its search state and
stepper, a pool of child networks, fixed batches, and how a step, the data and the memory are timed.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from nas.provenance import rss_peak_mb

if TYPE_CHECKING:
    from nas.search.bench import BenchConfig

IMAGE_SHAPE = (3, 32, 32)  # CIFAR-10, the default dataset
N_CHILD_CELLS = 8  # live cells in the child pool


def search_config(profile: str, mode: str, torch_device: str):
    """The SearchConfig timed for ``mode``: the profile's network and batch in the joint schedule (DARTS-CC's
    step: a generator step with the joint schedule's REINFORCE paths, then a weight step, at 32x32 pixels),
    with the estimator that fits the mode. The two-phase schedule runs the same two halves apart."""
    from nas.search.config import SearchConfig, config_for_profile

    joint = SearchConfig()
    over = {"torch_device": torch_device, "mode": mode, "dataset": "synthetic", "schedule": "joint",
            "reinforce_samples": joint.reinforce_samples, "resolution": 0, "warmup_epochs": 0,
            "path_sampling": "uniform"}
    if mode == "mixed":  # every op weighted: the gradient goes through the relaxation (DARTS)
        over.update(estimator="relaxed", weight_paths="hypernet")
    return config_for_profile(profile, **over)


class BenchCase:
    """One configuration: a search state and stepper, a child pool, and fixed batches."""

    def __init__(self, profile: str, mode: str, threads: int, torch_device: str, seed: int):
        import torch

        from nas.spaces.nb201.genotype import all_op_indices, dead_mask, genotype_from_indices
        from nas.search.penalties import CostPenalty
        from nas.search.step import Stepper, build_state
        from nas.spaces.nb201.network import DiscreteNet, MacroConfig
        from nas.costs.resolve import build_tables

        self.mode, self.threads = mode, threads
        self.cfg = cfg = search_config(profile, mode, torch_device)
        self.dev = dev = torch.device(torch_device)
        g = torch.Generator().manual_seed(seed)
        n = cfg.batch_size

        def batch():
            return torch.randn(n, *IMAGE_SHAPE, generator=g).to(dev), torch.randint(10, (n,), generator=g).to(dev)

        self.trn, self.val = batch(), batch()
        tables = build_tables(cfg.devices, n_fit=cfg.lut_n_fit, seed=cfg.lut_seed)
        self.state = build_state(cfg, IMAGE_SHAPE[0], 10, tables[0].descriptor().size)
        self.stepper = Stepper(cfg, self.state, CostPenalty(tables, cfg, dev))
        self.n_devices = len(tables)
        macro = MacroConfig(C=cfg.C, N=cfg.N, in_channels=IMAGE_SHAPE[0], n_classes=10)
        live = np.flatnonzero(~dead_mask())
        pick = np.random.default_rng(seed).choice(live, size=N_CHILD_CELLS, replace=False)
        self.children = []
        for i in pick:
            net = DiscreteNet(genotype_from_indices(all_op_indices()[int(i)]), macro).to(dev)
            opt = torch.optim.SGD(net.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                  weight_decay=cfg.w_weight_decay)
            self.children.append((net, opt))
        self._k = 0

    @property
    def label(self) -> str:
        return f"{self.mode}/threads={self.threads or 'default'}"

    def search_step(self) -> None:
        """The search's own step (``nas.search.step.Stepper.step``) after warm-up, at temperature 1."""
        self.stepper.step(self.n_devices, 1.0, self.trn, self.val, "joint")

    def child_step(self) -> None:
        import torch
        import torch.nn.functional as F

        net, opt = self.children[self._k % len(self.children)]
        self._k += 1
        loss = F.cross_entropy(net(self.trn[0]), self.trn[1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), self.cfg.grad_clip)
        opt.step()

    def hypernet_step(self) -> None:
        """The generator's share of a step: forward, a backward of a loss of its output, Adam."""
        import torch

        st, pen = self.state, self.stepper.penalty
        u = torch.rand((), generator=st.generator)
        logits = st.hypernet(u, pen.phi[0])
        probs = torch.softmax(logits, -1)
        loss = pen.objective(torch.log_softmax(logits, -1).sum() * 0.0 + 1.0, probs, 0, u)
        st.a_optim.zero_grad(set_to_none=True)
        loss.backward()
        st.a_optim.step()
        with torch.no_grad():  # the weight step's generator query (weight_paths = hypernet)
            st.hypernet(u, pen.phi[0])

    def sync(self) -> None:
        if self.dev.type == "cuda":
            import torch

            torch.cuda.synchronize(self.dev)


def timed(case: BenchCase, fn: Callable[[], None]) -> float:
    """Seconds of one call of ``fn`` under the case's thread setting."""
    import torch

    if case.threads:
        torch.set_num_threads(case.threads)
    case.sync()
    t0 = time.perf_counter()
    fn()
    case.sync()
    return time.perf_counter() - t0


def data_batch_ms(batch_size: int, repeats: int = 50, n_images: int = 25_000) -> float:
    """Median ms to produce a (train, val) batch pair from in-memory uint8 ``SearchData`` (CIFAR size)."""
    import torch

    from nas.search.data import SearchData

    x = torch.randint(0, 256, (n_images, *IMAGE_SHAPE), dtype=torch.uint8)
    y = torch.randint(0, 10, (n_images,))
    data = SearchData(x, y, x, y, torch.full((3,), 0.5), torch.full((3,), 0.25), 10)
    it = data.epoch_batches(0, batch_size, 0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        next(it)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def memory_probe(args: tuple) -> float:
    """Peak RSS (MB) of a fresh process that runs a few search steps of one configuration."""
    profile, mode, threads, torch_device, seed = args
    import torch

    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)
    case = BenchCase(profile, mode, threads, torch_device, seed)
    for _ in range(3):
        case.search_step()
    return rss_peak_mb()


def peak_memory_mb(case: BenchCase, cfg: BenchConfig) -> float:
    """Peak memory of a configuration: fresh-process RSS (CPU) or max allocated (CUDA), in MB."""
    import torch

    if case.dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(case.dev)
        for _ in range(3):
            case.search_step()
        return torch.cuda.max_memory_allocated(case.dev) / 2**20
    with mp.get_context("spawn").Pool(1) as pool:
        return float(pool.apply(memory_probe, ((cfg.profile, case.mode, case.threads, cfg.torch_device, cfg.seed),)))
