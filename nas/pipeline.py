"""The paper pipeline: numbered notebooks executed in order by papermill.

A stage is a notebook ``notebooks/NN_<name>.ipynb`` (found by a glob) that builds its config and
calls ``run(cfg)`` of its module, registered in ``nas.stages.STAGES`` (a test keeps the glob and
the registry equal). Its parameters come from ``notebooks/params/<profile>/NN_<name>.yaml``
(absent or empty file: the defaults, which are the default profile's) plus ``profile``, which is
always injected; a name that is not a field of the stage's config stops the run. Adding a stage:
its module (config, ``run``), one registry line, the notebook and, where a profile needs other
settings, its params files.

Command line::

    python -m nas.pipeline run --profile {smoke,default,full} [--only SUBSTR ...] [--from NN]
    python -m nas.pipeline list

Where things land (``<out>`` is the repository root unless overridden):

* executed notebooks: ``notebooks/executed/<name>.ipynb`` (default, full) or
  ``notebooks/executed/smoke/<name>.ipynb`` (smoke);
* wall-clock per stage: ``results/summary/timing.csv`` (default, full) or
  ``results/smoke/summary/timing.csv`` (smoke), one row per (profile, stage), updated in place.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from nas.stages.environment import PROFILES
from nas.results import TMP_PREFIX, remove_stale_temps, repo_root, write_rows
from nas.stages.executed import compact_streams

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
    """Keep the stages whose name contains any of ``only`` and whose number is at least ``start``.

    Raises:
        ValueError: an ``only`` word matches no stage, or no stage is numbered ``start`` (the
            message lists the stages).
    """
    names = ", ".join(p.stem for p in stages) or "(none: no stage notebooks NN_*.ipynb in that folder)"
    unknown = [s for s in only or () if not any(s in p.stem for p in stages)]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)} matches no stage; the stages are: {names}")
    if start is not None and not any(stage_number(p) == int(start) for p in stages):
        raise ValueError(f"--from {start}: no stage has that number; the stages are: {names}")
    chosen = [p for p in stages if not only or any(s in p.stem for s in only)]
    chosen = [p for p in chosen if start is None or stage_number(p) >= int(start)]
    if not chosen:
        raise ValueError(f"--only {' '.join(only or [])} --from {start} together select no stage; the stages are: {names}")
    return chosen


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
    from nas.stages.params import read_params_file

    folder = Path(params_dir) if params_dir is not None else notebook.parent / "params"
    return {**read_params_file(folder / profile / f"{notebook.stem}.yaml"), "profile": profile}


def check_parameters(notebook: Path, params: Mapping) -> None:
    """Raise ValueError if ``params`` names a parameter the notebook does not declare.

    A registered stage (``nas.stages.STAGES``) declares the fields of its config; any other
    notebook, the names of its ``parameters`` cell.
    """
    from nas.stages import STAGES

    if notebook.stem in STAGES:
        declared = {f.name for f in fields(STAGES[notebook.stem].config_class)}
    else:
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
    remove_stale_temps(target.parent)
    work = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")  # executed here, renamed when complete
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(work), parameters=params, kernel_name=kernel,
                                   cwd=str(notebook.parent), progress_bar=progress)
    except Exception as error:  # papermill errors, dead kernels, timeouts: all stop the pipeline
        if work.exists():
            os.replace(work, target)  # a failed notebook is kept whole, for inspection
        result = StageResult(notebook.stem, time.perf_counter() - start, "failed", target, _now())
        raise StageFailed(failure_message(notebook, error, target), result) from error
    compact_streams(work, target)
    os.replace(work, target)
    return StageResult(notebook.stem, time.perf_counter() - start, "ok", target, _now())


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
        one :class:`StageResult` per stage run.

    Raises:
        StageFailed: a stage failed; the timings of the stages run so far are still written.
        ValueError: ``only`` or ``start`` selects no stage (the message lists the stages).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {PROFILES}")
    stages = select_stages(list_stages(notebooks_dir), only, start)
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


if __name__ == "__main__":
    sys.exit(main())
