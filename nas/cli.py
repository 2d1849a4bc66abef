"""Command line: ``python -m nas {search,train,derive,export,profile,plan} ...``.

Known failures (bad device, genotype, lam, budget, run folder, CSV) print one line naming the
problem and the fix and exit with status 2; outputs are written atomically.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from nas.costs.table import CostFitError
from nas.spaces import space_names
from nas.spaces.nb201.genotype import GenotypeError

EXIT_USAGE = 2


def _overrides(pairs: list[str]) -> dict:
    """Typed SearchConfig fields of ``--set FIELD=VALUE`` words (``nas.search.serialise.parse_set``)."""
    from nas.search.config import SearchConfig
    from nas.search.serialise import parse_set

    return parse_set(pairs, SearchConfig)


def cmd_search(args) -> int:
    from nas.search import run_io
    from nas.search.config import config_for_profile
    from nas.search.data import load_search_data
    from nas.search.loop import run_search, torch_setup

    over = _overrides(args.set)
    over.update({k: v for k, v in (("dataset", args.dataset), ("seed", args.seed), ("method", args.method)) if v is not None})
    if args.devices:
        over["devices"] = tuple(args.devices)
    cfg = config_for_profile(args.profile, space=args.space, **over).validate(here=True)
    if args.supernet_only:
        from nas.search.isolation import evaluation_modules_blocked
        from nas.search.shared_supernet import train_shared_supernet

        torch_setup(cfg)
        with evaluation_modules_blocked():
            out = train_shared_supernet(cfg, args.out, load_search_data(cfg))
        print(f"phase-1 supernet finished: {out}")
        return 0
    if run_io.finished_search(Path(args.out), cfg.to_dict()):
        print(f"{args.out} already holds this finished search; left untouched (a finished run is never "
              "searched again: to search anew, delete the folder or use another --out)")
        return 0
    out = run_search(cfg, args.out, supernets_dir=args.supernets)
    print(f"search finished: {out}")
    return 0


def cmd_train(args) -> int:
    """Train one architecture from scratch (or resume, or report a finished run) and print its test accuracy."""
    from nas.search.serialise import parse_set
    from nas.train.config import TrainConfig, train_config_for_profile
    from nas.train.loop import train_architecture

    over = parse_set(args.set, TrainConfig)
    given = (("space", args.space), ("genotype", args.genotype), ("dataset", args.dataset), ("seed", args.seed))
    over.update({k: v for k, v in given if v is not None})
    cfg = train_config_for_profile(args.profile, **over).validate(here=True)
    r = train_architecture(cfg, args.out)
    print(f"trained {r['genotype']} on {r['dataset']} (seed {r['seed']}, {r['epochs']} epochs): test accuracy "
          f"{r['test_acc_pct']:.2f} %, {r['params']:,} params, {r['train_seconds']:.0f} s; result in {args.out}")
    return 0


MEASURED_COLUMN = "meas_latency_ms_shared_table"  # measured whole-network latency (data/hardware), shared devices
BENCH_COLUMN = "nb201_cifar10_test_acc_benchmark"  # trained accuracy from NAS-Bench-201 (evaluation lookup)


def _known_values(rows: list[dict], device: str) -> list[dict]:
    """Add the measured latency (shared latency table) and the NB201 benchmark accuracy of each row's
    architecture where the tables know them (blank otherwise). The benchmark is an evaluation-only
    lookup, imported here and nowhere on a search's path."""
    from nas.costs.devices import SHARED_DEVICES
    from nas.spaces.nb201.benchmark import NB201Benchmark

    bench = NB201Benchmark.load()
    out = []
    for row in rows:
        extra = {MEASURED_COLUMN: "", BENCH_COLUMN: ""}
        try:
            extra[BENCH_COLUMN] = bench.accuracy(row["arch"])
            if device in SHARED_DEVICES:
                extra[MEASURED_COLUMN] = bench.measured_latency(row["arch"], device)
        except KeyError:
            pass  # not an NB201 cell of the tables: leave blank
        out.append({**row, **extra})
    return out


def cmd_derive(args) -> int:
    from nas.methods.derive import COLUMNS, SearchRun, derive_budgets, derive_lams
    from nas.results import write_rows
    from nas.search.run_io import check_output_path

    if args.out:
        check_output_path(args.out, folder=False)
    run = SearchRun.load(args.run)
    rows = derive_lams(run, args.device, args.lam) if args.lam else derive_budgets(run, args.device, args.budget_ms)
    rows = [r.row() for r in rows]
    columns = COLUMNS
    if run.config.space == "nb201" and not args.no_lookup:
        rows, columns = _known_values(rows, args.device), (*COLUMNS, MEASURED_COLUMN, BENCH_COLUMN)
    if args.out:
        write_rows(args.out, rows, columns)
    else:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def cmd_export(args) -> int:
    from nas.export import export_model
    from nas.search.run_io import check_output_path

    check_output_path(args.out, folder=False)
    try:
        err = export_model(args.arch, args.format, args.out)
    except GenotypeError as exc:
        raise GenotypeError(f"--arch {args.arch!r} is not a valid {args.space} genotype ({exc}); write it as e.g. "
                            "'|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'") \
            from None
    print(f"wrote {args.out} ({args.format}); max |difference| to PyTorch on a random batch: {err:.2e}")
    return 0


def cmd_profile(args) -> int:
    """Profile one runtime of this machine (isolated-op and regression LUTs, validation)."""
    import logging

    from nas.costs.profile_config import ProfileConfig
    from nas.costs.profiling import run_profile

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    given = {k: v for k, v in (("n_fit", args.n_fit), ("n_test", args.n_test), ("runs", args.runs),
                               ("threads", args.threads), ("seed", args.seed)) if v is not None}
    make = ProfileConfig.quick_config if args.quick else ProfileConfig
    cfg = make(runtime=args.runtime, space=args.space, **given)
    result = run_profile(cfg, args.out, progress=True)
    if result.skipped:
        print(result.skipped)
        return 0
    for kind, s in result.validation.items():
        print(f"{cfg.runtime} {kind:10s} LUT on {cfg.n_test} held-out archs: tau {s['kendall_tau']:.3f}, "
              f"rho {s['spearman']:.3f}, R2 {s['r2']:.3f}, MAPE {s['mape_pct']:.1f} %, "
              f"within 10 % {s['within10_pct']:.0f} %")
    print(f"profile written to {result.out_dir} in {result.seconds:.0f} s")
    return 0


def cmd_plan(args) -> int:
    """Print every search run of a profile: shell commands, or a makefile for ``make -j``."""
    from nas.stages.plan import commands, makefile

    if args.format == "make":
        print(makefile(args.profile, args.threads, args.python))
    else:
        print("\n".join(commands(args.profile, args.threads, args.python).values()))
    return 0


EPILOG = """examples:
  python -m nas search --space nb201 --dataset cifar10 --profile default --out results/runs/my_run
  python -m nas train --genotype "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|" \\
      --dataset fashion-mnist --profile default --out results/train/my_arch
  python -m nas derive --run results/runs/darts-cc-hw_nb201_cifar10_s0 --device raspi4 --budget-ms 20 30
  python -m nas derive --run results/runs/darts-cc-hw_nb201_cifar10_s0 --device my_phone.csv --lam 0 0.5 1
  python -m nas export --arch "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|" \\
      --format onnx --out model.onnx
  python -m nas profile --runtime torch-cpu-1t --out data/latency/torch-cpu-1t
  python -m nas profile --runtime torch-cpu-1t --space darts --out data/latency/darts/torch-cpu-1t
  python -m nas plan --profile default --format make --threads 1 --python .venv/bin/python > runs.mk

Known failures print one line naming the problem and the fix, and exit with status 2.
"""


def _devices_text() -> str:
    """The device specs ``derive`` and ``search`` accept, for the help texts."""
    from nas.costs.devices import SHARED_DEVICES
    from nas.costs.runtimes import RUNTIME_NAMES

    return (f"shared latency profiles: {', '.join(SHARED_DEVICES)}; this machine's runtimes (after 'nas profile'): "
            f"{', '.join('local-' + r for r in RUNTIME_NAMES)}; analytic: params, flops; or a CSV file "
            "arch_str,latency_ms of whole-network measurements of a new device")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="python -m nas", formatter_class=fmt, epilog=EPILOG,
                                description="Hardware-aware differentiable NAS: search once, then derive an "
                                            "architecture for any device and latency budget.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{search,train,derive,export,profile,plan}")
    devices = _devices_text()
    s = sub.add_parser("search", help="run or resume one conditioned search", formatter_class=fmt,
                       epilog="example:\n  python -m nas search --profile smoke --dataset synthetic --out /tmp/run")
    s.add_argument("--space", default="nb201", choices=list(space_names()), help="search space (default nb201)")
    s.add_argument("--dataset", choices=["cifar10", "fashion-mnist", "synthetic"],
                   help="training data (default: the profile's, cifar10)")
    s.add_argument("--profile", default="default", help="settings profile: smoke | default | full (default default)")
    s.add_argument("--method", help="darts-cc-hw (default) | darts-cc | darts | fbnet")
    s.add_argument("--seed", type=int, help="random seed (default: the profile's, 0)")
    s.add_argument("--devices", nargs="+", metavar="DEVICE", help=f"training devices; {devices}")
    s.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="override SearchConfig fields, e.g. --set epochs=2 batch_size=32")
    s.add_argument("--out", required=True, help="run folder (rerunning the same command resumes); with "
                   "--supernet-only the folder of shared supernets")
    s.add_argument("--supernets", help="two-phase schedule: folder of the shared phase-1 supernets (default: "
                   "supernets/ beside --out); give every method's run the same one")
    s.add_argument("--supernet-only", action="store_true",
                   help="two-phase schedule: train (or resume) only the config's shared phase-1 supernet under --out")
    s.set_defaults(func=cmd_search)
    _add_train_parser(sub, fmt)
    d = sub.add_parser("derive", help="architectures for a device and trade-offs or budgets", formatter_class=fmt,
                       description="Derive architectures from a finished search for one device, at trade-offs "
                                   "(--lam) or latency budgets (--budget-ms). Prints CSV: the query, the "
                                   f"architecture and its predicted latency; for NB201 also {MEASURED_COLUMN} "
                                   "(measured latency from the shared latency table, shared devices only) and "
                                   f"{BENCH_COLUMN} (NAS-Bench-201 CIFAR-10 test accuracy, an evaluation lookup), "
                                   "blank where the tables do not know the architecture.",
                       epilog="devices:\n  " + devices.replace("; ", "\n  ") + "\n\nexamples:\n"
                              "  python -m nas derive --run results/runs/darts-cc-hw_nb201_cifar10_s0 --device raspi4 "
                              "--budget-ms 20 30\n"
                              "  python -m nas derive --run results/runs/darts-cc-hw_nb201_cifar10_s0 --device "
                              "my_phone.csv --lam 0 0.5 1")
    d.add_argument("--run", required=True, help="folder of a finished search")
    d.add_argument("--device", required=True, help="device name or CSV arch_str,latency_ms of a new device (below)")
    q = d.add_mutually_exclusive_group(required=True)
    q.add_argument("--lam", type=float, nargs="+", help="normalised trade-off(s) in [0, 1] (0: accuracy only)")
    q.add_argument("--budget-ms", type=float, nargs="+", help="latency budget(s) in the device's unit (ms)")
    d.add_argument("--out", help="CSV file (default: stdout)")
    d.add_argument("--no-lookup", action="store_true",
                   help="skip the measured-latency and benchmark-accuracy columns")
    d.set_defaults(func=cmd_derive)
    e = sub.add_parser("export", help="write a deployable model of an architecture", formatter_class=fmt,
                       epilog="example:\n  python -m nas export --arch "
                              "\"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                              "nor_conv_3x3~2|\" --format onnx --out model.onnx")
    e.add_argument("--space", default="nb201", choices=list(space_names()), help="search space (default nb201)")
    e.add_argument("--arch", required=True, help="NB201 genotype string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    e.add_argument("--format", required=True, choices=["onnx", "torchscript"], help="file format")
    e.add_argument("--out", required=True, help="output file")
    e.set_defaults(func=cmd_export)
    pr = sub.add_parser("profile", help="measure this machine's latency and fit its lookup tables",
                        formatter_class=fmt,
                        epilog="examples:\n"
                               "  python -m nas profile --runtime torch-cpu-1t --out data/latency/torch-cpu-1t\n"
                               "  python -m nas profile --runtime torch-cpu-1t --space darts "
                               "--out data/latency/darts/torch-cpu-1t")
    pr.add_argument("--runtime", required=True, help="torch-cpu-1t | torch-cpu | onnxruntime-cpu | cuda")
    pr.add_argument("--space", default="nb201", choices=list(space_names()),
                    help="search space (default nb201: the C=16, N=5 benchmark network; darts: the C=16, N=3 mini "
                         "network; both at 32 px)")
    pr.add_argument("--out", required=True, help="profile folder, e.g. data/latency/torch-cpu-1t or "
                                                 "data/latency/darts/torch-cpu-1t (rerun resumes)")
    pr.add_argument("--n-fit", type=int, help="end-to-end architectures for the regression LUT (default 200)")
    pr.add_argument("--n-test", type=int, help="held-out architectures for validation (default 100)")
    pr.add_argument("--runs", type=int, help="timed runs per model (default 100)")
    pr.add_argument("--threads", type=int, help="override the runtime's thread count (CPU runtimes)")
    pr.add_argument("--seed", type=int, help="seed of the architectures and the timing order (default 0)")
    pr.add_argument("--quick", action="store_true",
                    help="small profile for smoke runs (nb201 30 archs, darts 40; 20 runs)")
    pr.set_defaults(func=cmd_profile)
    pl = sub.add_parser("plan", help="every search run of a profile as its own command (make -j, job arrays)",
                        formatter_class=fmt,
                        epilog="example:\n  python -m nas plan --profile default --format make --threads 1 "
                               "--python .venv/bin/python > runs.mk && make -j 2 -f runs.mk")
    pl.add_argument("--profile", default="default", help="smoke | default | full")
    pl.add_argument("--format", choices=["sh", "make"], default="sh", help="shell lines or a makefile")
    pl.add_argument("--threads", type=int, default=0, help="torch threads per run (e.g. 1 with make -j on 2 cores)")
    pl.add_argument("--python", default="python", help="interpreter in the commands (e.g. .venv/bin/python)")
    pl.set_defaults(func=cmd_plan)
    return p


def _add_train_parser(sub, fmt) -> None:
    """The ``train`` subcommand: options and help."""
    from nas.spaces import space_names

    t = sub.add_parser("train", help="train one architecture from scratch and report its test accuracy",
                       formatter_class=fmt,
                       description="Train a derived architecture from scratch on the official train split and\n"
                                   "evaluate it on the official test split. The run folder gets config.json,\n"
                                   "checkpoint.pt and history.csv after every epoch and result.json at the end;\n"
                                   "rerunning the same command resumes, and a finished run is not trained again.",
                       epilog="profiles: smoke (synthetic, seconds), default (short CPU schedule, minutes), full "
                              "(DARTS retraining recipe, GPU)\n\nexample:\n  python -m nas train --profile smoke "
                              "--out /tmp/train\n  python -m nas train --genotype "
                              "\"|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|\" "
                              "--dataset fashion-mnist --out results/train/my_arch --set epochs=4")
    t.add_argument("--space", choices=list(space_names()), help="search space (default: the profile's, nb201)")
    t.add_argument("--genotype", help="canonical genotype string of the space (default: NB201's best CIFAR-10 cell)")
    t.add_argument("--dataset", choices=["cifar10", "fashion-mnist", "synthetic"],
                   help="training data (default: the profile's)")
    t.add_argument("--profile", default="default", help="settings profile: smoke | default | full (default default)")
    t.add_argument("--seed", type=int, help="random seed of weights, batch order and augmentation (default 0)")
    t.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="override TrainConfig fields, e.g. --set epochs=2 cutout=16")
    t.add_argument("--out", required=True, help="run folder (rerunning the same command resumes)")
    t.set_defaults(func=cmd_train)


def known_errors() -> tuple[type[BaseException], ...]:
    from nas.data.common import DataError
    from nas.methods.derive import DeriveError
    from nas.costs.devices import DeviceError
    from nas.search.run_io import RunError

    return (DeriveError, DeviceError, RunError, GenotypeError, CostFitError, DataError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
    try:
        return args.func(args)
    except known_errors() as err:
        if isinstance(err, OSError) and err.filename:  # a path the system refused (read-only, full, missing)
            err = f"cannot write or read {err.filename} ({err.strerror}); choose a writable path or fix its permissions"
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, whatever the message holds
        return EXIT_USAGE
