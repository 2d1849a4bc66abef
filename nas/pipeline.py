"""The paper pipeline: numbered notebooks executed in order by papermill.

A stage is a notebook ``notebooks/NN_<name>.ipynb`` (found by a glob, never a hand-kept list). Its
parameters come from ``notebooks/params/<profile>/NN_<name>.yaml`` (absent file: the notebook's
defaults) plus ``profile``, which is always injected. Adding a stage is dropping a notebook and,
where a profile needs other settings, its params files.

Command line::

    python -m nas.pipeline run --profile {smoke,default,full} [--only SUBSTR ...] [--from NN]
    python -m nas.pipeline list

Where things land (``<out>`` is the repository root unless overridden):

* executed notebooks: ``notebooks/executed/<name>.ipynb`` (default, full) or
  ``notebooks/executed/smoke/<name>.ipynb`` (smoke);
* wall-clock per stage: ``results/summary/timing.csv`` (default, full) or
  ``results/smoke/summary/timing.csv`` (smoke), one row per (profile, stage), updated in place.

The second half of the module holds the small config and helpers of stage ``01_data``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from nas.stages.environment import PROFILES
from nas.results import atomic_writer, repo_root, write_rows

STAGE_GLOB = "[0-9][0-9]_*.ipynb"
DEFAULT_KERNEL = "nas-hw"


class StageFailed(RuntimeError):
    """A stage notebook failed; the message names the notebook, the cell and the error.

    Attributes:
        result: the failed stage's :class:`StageResult` (its executed notebook is kept).
    """

    def __init__(self, message: str, result: StageResult):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class StageResult:
    """Outcome of one executed stage."""

    stage: str
    seconds: float
    status: str  # ok | failed
    executed: Path
    finished_at: str

    def row(self, profile: str) -> dict:
        """Return the ``timing.csv`` row of this result."""
        return {"profile": profile, "stage": self.stage, "seconds": f"{self.seconds:.1f}",
                "status": self.status, "finished_at": self.finished_at}


def default_notebooks_dir() -> Path:
    """Return ``<repo>/notebooks``."""
    return repo_root() / "notebooks"


def list_stages(notebooks_dir: str | Path | None = None) -> list[Path]:
    """Return the stage notebooks ``NN_*.ipynb`` of ``notebooks_dir``, in order."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    return sorted(folder.glob(STAGE_GLOB))


def stage_number(path: Path) -> int:
    """Return the number prefix of a stage notebook (``03_search.ipynb`` → 3)."""
    return int(path.name[:2])


def select_stages(
    stages: Sequence[Path], only: Sequence[str] | None = None, start: int | str | None = None
) -> list[Path]:
    """Keep the stages whose name contains any of ``only`` and whose number is at least ``start``."""
    chosen = [p for p in stages if not only or any(s in p.stem for s in only)]
    return [p for p in chosen if start is None or stage_number(p) >= int(start)]


def executed_path(notebook: Path, profile: str, out: str | Path | None = None) -> Path:
    """Return where the executed copy of ``notebook`` goes for ``profile``."""
    folder = Path(out if out is not None else repo_root()) / "notebooks" / "executed"
    return (folder / "smoke" if profile == "smoke" else folder) / notebook.name


def timing_path(profile: str, out: str | Path | None = None) -> Path:
    """Return the ``timing.csv`` of ``profile`` (smoke runs never touch committed summaries)."""
    results = Path(out if out is not None else repo_root()) / "results"
    return (results / "smoke" if profile == "smoke" else results) / "summary" / "timing.csv"


def load_params(notebook: Path, profile: str, params_dir: str | Path | None = None) -> dict:
    """Return the parameters of ``notebook`` for ``profile``: its YAML file plus ``profile``.

    Raises:
        ValueError: the YAML file is not a mapping.
    """
    import yaml

    folder = Path(params_dir) if params_dir is not None else notebook.parent / "params"
    path = folder / profile / f"{notebook.stem}.yaml"
    params = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"{path}: expected a mapping of parameter names to values")
    return {**params, "profile": profile}


def check_parameters(notebook: Path, params: Mapping) -> None:
    """Raise ValueError if ``params`` names a parameter the notebook does not declare."""
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    if "profile" not in declared:
        raise ValueError(f"{notebook.name}: its parameters cell must declare `profile: str`")
    unknown = sorted(set(params) - declared)
    if unknown:
        raise ValueError(f"{notebook.name}: unknown parameter(s) {unknown}; declared: {sorted(declared)}")


def check_kernel(name: str) -> None:
    """Raise RuntimeError with the fix if the Jupyter kernel ``name`` is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise RuntimeError(
            f"Jupyter kernel {name!r} is not registered; run `make venv` (it registers the "
            f"project's .venv as kernel {DEFAULT_KERNEL!r}) or pass --kernel NAME"
        ) from None


def failure_message(notebook: Path, error: BaseException, executed: Path) -> str:
    """Describe a failed stage: notebook, failing cell (index and first lines), error, where to look."""
    lines = [f"stage {notebook.stem} failed ({notebook})"]
    if hasattr(error, "cell_index"):  # papermill.PapermillExecutionError
        head = "\n".join(f"    {line}" for line in (error.source or "").splitlines()[:5])
        lines += [f"  failing cell: In [{error.exec_count}], cell index {error.cell_index} counting papermill's "
                  "injected-parameters cell:", head,
                  f"  {error.ename}: {error.evalue}"]
    else:
        lines.append(f"  {type(error).__name__}: {error}")
    lines.append(f"  executed notebook kept for inspection: {executed}")
    return "\n".join(lines)


def _now() -> str:
    """Return the UTC time as ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_stage(
    notebook: str | Path,
    profile: str,
    *,
    kernel: str = DEFAULT_KERNEL,
    params_dir: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> StageResult:
    """Execute one stage notebook with papermill (working directory: the notebook's folder).

    Args:
        notebook: the stage notebook.
        profile: ``smoke``, ``default`` or ``full``; selects the params file and the outputs.
        kernel: Jupyter kernel name.
        params_dir: folder of ``<profile>/<stem>.yaml`` files (default ``<notebook dir>/params``).
        out: root of ``notebooks/executed`` (default: the repository).
        progress: show papermill's per-cell progress bar.

    Raises:
        StageFailed: the notebook raised or the kernel died.
        ValueError: the params file names a parameter the notebook does not declare.
    """
    import papermill

    notebook = Path(notebook).resolve()
    params = load_params(notebook, profile, params_dir)
    check_parameters(notebook, params)
    target = executed_path(notebook, profile, out)
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(target), parameters=params, kernel_name=kernel,
                                   cwd=str(notebook.parent), progress_bar=progress)
    except Exception as error:  # papermill errors, dead kernels, timeouts: all stop the pipeline
        result = StageResult(notebook.stem, time.perf_counter() - start, "failed", target, _now())
        raise StageFailed(failure_message(notebook, error, target), result) from error
    compact_streams(target)
    return StageResult(notebook.stem, time.perf_counter() - start, "ok", target, _now())


def _last_redraw(line: str) -> str:
    """What a terminal shows of a line that carriage returns redraw: its last state, without cursor moves."""
    states = [part for part in line.replace("\x1b[A", "").split("\r") if part.strip()]
    return states[-1] if states else ""


def final_bar_states(text: str) -> str:
    """Stream text with every run of updates of one progress bar (lines ``desc: NN%|...``) reduced to
    its last update, and the blank lines between them dropped."""
    kept: list[tuple[str | None, str]] = []
    for line in map(_last_redraw, text.split("\n")):
        if not line.strip():
            continue
        key = line.split(":", 1)[0] if "%|" in line else None
        if key is not None and kept and kept[-1][0] == key:
            kept[-1] = (key, line)
        else:
            kept.append((key, line))
    return "".join(line + "\n" for _, line in kept)


def compact_streams(path: str | Path) -> None:
    """Keep only the final state of each progress bar in the stream outputs of an executed notebook.

    A text progress bar writes one stream output per refresh; Jupyter shows only the last, and
    keeping them all made an executed search notebook 9 MB. Other output is left as it is.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            same = merged and output.get("output_type") == "stream" and merged[-1].get("output_type") == "stream" \
                and merged[-1].get("name") == output.get("name")
            if same:
                merged[-1]["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream" and "%|" in output.get("text", ""):
                output["text"] = final_bar_states(output["text"])
        if "outputs" in cell:
            cell["outputs"] = merged
    nbformat.write(nb, str(path))


def record_timing(results: Sequence[StageResult], profile: str, out: str | Path | None = None) -> Path:
    """Update ``timing.csv``: replace the rows of the stages just run, keep the others."""
    path = timing_path(profile, out)
    new = {r.stage: r.row(profile) for r in results}
    old = []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            old = [row for row in csv.DictReader(handle)
                   if not (row.get("profile") == profile and row.get("stage") in new)]
    rows = sorted(old + list(new.values()), key=lambda row: (row["profile"], row["stage"]))
    return write_rows(path, rows)


def format_timing(results: Sequence[StageResult]) -> str:
    """Return a plain-text table of stage, seconds and status, with the total."""
    width = max([len(r.stage) for r in results] + [5])
    lines = [f"{'stage':<{width}}  {'seconds':>8}  status"]
    lines += [f"{r.stage:<{width}}  {r.seconds:8.1f}  {r.status}" for r in results]
    lines.append(f"{'total':<{width}}  {sum(r.seconds for r in results):8.1f}")
    return "\n".join(lines)


def run(
    profile: str,
    only: Sequence[str] | None = None,
    start: int | str | None = None,
    *,
    kernel: str = DEFAULT_KERNEL,
    notebooks_dir: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> list[StageResult]:
    """Run the selected stages in order, stop at the first failure, record the wall-clock.

    Args:
        profile: ``smoke``, ``default`` or ``full``.
        only: keep stages whose name contains any of these substrings.
        start: keep stages numbered ``start`` or higher.
        kernel: Jupyter kernel name.
        notebooks_dir: folder of the stage notebooks and their ``params/`` (default: the repo's).
        out: root of ``notebooks/executed`` and ``results/.../timing.csv`` (default: the repo).
        progress: show papermill's progress bars.

    Returns:
        one :class:`StageResult` per stage run (empty when no stage is selected).

    Raises:
        StageFailed: a stage failed; the timings of the stages run so far are still written.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {PROFILES}")
    stages = select_stages(list_stages(notebooks_dir), only, start)
    if not stages:
        print(f"no stage selected (only={list(only or [])}, from={start}); nothing to do")
        return []
    check_kernel(kernel)
    results: list[StageResult] = []
    try:
        for i, notebook in enumerate(stages, 1):
            print(f"[{i}/{len(stages)}] {notebook.stem} (profile {profile})", flush=True)
            try:
                results.append(run_stage(notebook, profile, kernel=kernel, out=out, progress=progress))
            except StageFailed as failure:
                results.append(failure.result)
                raise
    finally:
        if results:
            path = record_timing(results, profile, out)
            print(f"\n{format_timing(results)}\n(wall-clock per stage written to {path})", flush=True)
    return results


def _parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(prog="python -m nas.pipeline", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="execute the stage notebooks in order")
    run_cmd.add_argument("--profile", choices=PROFILES, default="default")
    run_cmd.add_argument("--only", nargs="+", metavar="SUBSTR", help="stages whose name contains one of these")
    run_cmd.add_argument("--from", dest="start", type=int, metavar="NN", help="start at stage number NN")
    run_cmd.add_argument("--kernel", default=DEFAULT_KERNEL, help=f"Jupyter kernel (default {DEFAULT_KERNEL})")
    run_cmd.add_argument("--notebooks-dir", type=Path, help="stage notebooks folder (default notebooks/)")
    run_cmd.add_argument("--out", type=Path, help="root for executed notebooks and timing (default: repo)")
    run_cmd.add_argument("--no-progress", action="store_true", help="hide papermill's progress bars")
    list_cmd = commands.add_parser("list", help="print the stage notebooks in order")
    list_cmd.add_argument("--notebooks-dir", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1: a stage failed, 2: bad input)."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for notebook in list_stages(args.notebooks_dir):
            print(notebook.name)
        return 0
    try:
        run(args.profile, args.only, args.start, kernel=args.kernel, notebooks_dir=args.notebooks_dir,
            out=args.out, progress=not args.no_progress)
    except StageFailed as failure:
        print(f"\nPIPELINE STOPPED: {failure}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


# --- stage 01_data: config and helpers -------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Config of stage 01: which datasets to prepare and verify, or a synthetic stand-in.

    Attributes:
        profile: ``smoke``, ``default`` or ``full``.
        datasets: names understood by ``nas.data.datasets.prepare``.
        data_root: dataset root.
        out_dir: folder of ``data_verification.csv`` and ``provenance.json``.
        fig_dir: folder of ``data_samples.png``.
        synthetic: use ``nas.data.datasets.synthetic_arrays`` instead of the real datasets (smoke).
        n_train, n_test, image_shape, n_classes, seed: the synthetic set's size, (H, W, C) and seed.
    """

    profile: str = "default"
    datasets: tuple[str, ...] = ("fashion-mnist", "cifar10")
    data_root: str = "../data"
    out_dir: str = "../results/data"
    fig_dir: str = "../figures"
    synthetic: bool = False
    n_train: int = 512
    n_test: int = 128
    image_shape: tuple[int, ...] = (32, 32, 3)
    n_classes: int = 10
    seed: int = 0

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")
        if not self.synthetic and not self.datasets:
            raise ValueError("datasets is empty: name at least one dataset or set synthetic=True")


def load_stage_arrays(cfg: DataConfig) -> dict:
    """Return ``{dataset name: nas.data.datasets.ImageArrays}``: prepared and verified datasets, or one synthetic set."""
    from nas.data import datasets as data

    if cfg.synthetic:
        synthetic = data.synthetic_arrays(cfg.n_train, cfg.n_test, tuple(cfg.image_shape), cfg.n_classes, cfg.seed)
        return {"synthetic": synthetic}
    for name in cfg.datasets:
        data.prepare(name, root=cfg.data_root)  # verifies, or raises DataError naming the file and the fix
    return {name: data.load_arrays(name, cfg.data_root) for name in cfg.datasets}


def _joined(values) -> str:
    """Format per-channel values as space-separated decimals."""
    return " ".join(f"{v:.6f}" for v in values)


def verification_rows(arrays_by_name: Mapping) -> list[dict]:
    """Summarise each dataset split: count, shape, class balance, first labels, per-channel mean/std."""
    import numpy as np

    from nas.data.verify import pixel_stats

    rows = []
    for name, arrays in arrays_by_name.items():
        for split in ("train", "test"):
            x, y = getattr(arrays, f"x_{split}"), np.asarray(getattr(arrays, f"y_{split}"))
            counts = np.bincount(y)
            mean, std = pixel_stats(x, f"{name} {split}")
            rows.append({
                "dataset": name, "split": split, "n": len(y), "image_shape": "x".join(map(str, x.shape[1:])),
                "dtype": str(x.dtype), "n_classes": len(counts), "min_per_class": int(counts.min()),
                "max_per_class": int(counts.max()), "first_labels": " ".join(map(str, y[:10])),
                "pixel_mean": _joined(mean), "pixel_std": _joined(std),
            })
    return rows


def save_sample_grid(arrays_by_name: Mapping, path: str | Path, per_dataset: int = 8) -> Path:
    """Draw the first ``per_dataset`` training images of each dataset (one row each) to ``path``."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    names = list(arrays_by_name)
    fig = Figure(figsize=(per_dataset * 1.1, len(names) * 1.3))
    axes = fig.subplots(len(names), per_dataset, squeeze=False)
    for row, name in zip(axes, names):
        x, y = arrays_by_name[name].x_train, arrays_by_name[name].y_train
        for i, ax in enumerate(row):
            image = x[i].squeeze()
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(f"{name}: {int(y[i])}" if i == 0 else str(int(y[i])), fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    with atomic_writer(path, "wb") as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=150)
    return path


if __name__ == "__main__":
    sys.exit(main())
