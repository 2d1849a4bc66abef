"""Device registry: shared profiles fitted from a few measurements, and new devices from CSVs."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.costs.table import N_FIT_PARAMS, CostTable
from nas.costs.devices import (
    SHARED_DEVICES,
    DeviceError,
    device_info,
    load_latency_table,
    lut_fit_report,
    shared_device_table,
    table_from_csv,
)
from nas.costs.resolve import build_table, resolve_device
from nas.spaces.nb201.genotype import space_positions, Genotype, all_op_indices, dead_mask, genotype_from_indices
from nas.ops import NB201_PRIMITIVES

TRUE = CostTable("truth", "ms", 2.0, (0.0, 0.05, 0.8, 3.0, 0.6), "analytic")
GOOD = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


@pytest.fixture(scope="module")
def latency():
    """Shared CSV with each row's position in ``all_op_indices()`` and its dead flag."""
    df = load_latency_table()
    df["pos"] = space_positions(df["arch_str"])  # itertools.product order
    df["dead"] = dead_mask()[df["pos"]]
    return df


@pytest.fixture(scope="module")
def tables():
    return {name: shared_device_table(name) for name in SHARED_DEVICES}


def _live(n: int, seed: int = 0) -> list[str]:
    live = np.flatnonzero(~dead_mask())
    return [genotype_from_indices(all_op_indices()[i]).to_str()
            for i in np.random.default_rng(seed).choice(live, size=n, replace=False)]


def _write(tmp_path, rows, header="arch_str,latency_ms", name="dev.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_shared_devices_match_csv_columns_and_metadata(latency):
    assert tuple(c for c in latency.columns if c not in ("arch_index", "arch_str", "pos", "dead")) == SHARED_DEVICES
    for name in SHARED_DEVICES:
        assert device_info(name)["origin"] == ("estimated" if name in ("eyeriss", "fpga") else "measured")
    with pytest.raises(KeyError, match="raspi4"):
        device_info("toaster")


@pytest.mark.parametrize("name", SHARED_DEVICES)
def test_shared_table_ranks_like_measurements(name, tables, latency):
    t = tables[name]
    live = latency[~latency["dead"]]
    assert t.fit["n_fit"] == 300 and t.fit["n_test"] == len(live) - 300
    assert t.fit["kendall_tau"] > 0.7 and t.origin == device_info(name)["origin"]
    tau = stats.kendalltau(t.all_costs()[live["pos"]], live[name]).statistic
    assert tau > 0.7


def test_shared_table_is_seeded():
    a, b = shared_device_table("raspi4", n_fit=50, seed=3), shared_device_table("raspi4", n_fit=50, seed=3)
    assert a.op_cost == b.op_cost and a.op_cost != shared_device_table("raspi4", n_fit=50, seed=4).op_cost


def test_table_from_csv_recovers_additive_device_with_cv(tmp_path):
    archs = _live(30)
    rows = [f"{a},{TRUE.genotype_cost(a)}" for a in archs] + [f"{archs[0]},{TRUE.genotype_cost(archs[0])}"]
    dead = genotype_from_indices(all_op_indices()[np.flatnonzero(dead_mask())[0]]).to_str()
    t = table_from_csv(_write(tmp_path, rows + [f"{dead},0.01"], name="my_phone.csv"))
    assert t.name == "my_phone" and t.origin == "measured"
    np.testing.assert_allclose(t.op_cost, TRUE.op_cost, atol=1e-9)
    assert t.fit["n_dead_skipped"] == 1 and t.fit["n_duplicates_merged"] == 1
    assert t.fit["cv_folds"] == 5 and t.fit["kendall_tau"] > 0.99 and t.fit["r2"] > 0.999


def test_table_from_csv_averages_conflicting_duplicates(tmp_path):
    archs = _live(10)
    rows = [f"{a},{TRUE.genotype_cost(a) + (1 if i == 0 else 0)}" for i, a in enumerate(archs)]
    rows.append(f"{archs[0]},{TRUE.genotype_cost(archs[0]) - 1}")  # mean is the true value
    t = table_from_csv(_write(tmp_path, rows), name="dup")
    np.testing.assert_allclose(t.op_cost, TRUE.op_cost, atol=1e-9)
    assert "cv_folds" not in t.fit  # fewer than 20 rows


@pytest.mark.parametrize(
    "header,rows,pattern",
    [
        ("arch,latency_ms", [f"{GOOD},1.0"], r"missing column.*arch_str"),
        ("arch_str,latency_ms", [f"{GOOD},1.0", "|conv~0|+|none~0|none~1|+|a~0|b~1|c~2|,2.0"],
         r"row 2 \(line 3\).*not a valid NB201 genotype"),
        ("arch_str,latency_ms", [f"{GOOD},-3"], r"row 1.*positive"),
        ("arch_str,latency_ms", [f"{GOOD},0"], r"row 1.*positive"),
        ("arch_str,latency_ms", [f"{GOOD},1.0", f"{GOOD},NaN"], r"row 2.*NaN"),
        ("arch_str,latency_ms", [f"{GOOD},fast"], r"row 1.*not a number"),
        ("arch_str,latency_ms", [f"{a},2.0" for a in _live(3)], rf"at least {N_FIT_PARAMS}.*got 3"),
    ],
    ids=["missing-column", "bad-arch", "negative", "zero", "nan", "non-numeric", "too-few"],
)
def test_table_from_csv_errors_name_file_and_problem(tmp_path, header, rows, pattern):
    path = _write(tmp_path, rows, header=header)
    with pytest.raises(DeviceError, match=pattern) as exc:
        table_from_csv(path)
    assert str(path) in str(exc.value)


def test_table_from_csv_missing_file(tmp_path):
    with pytest.raises(DeviceError, match="no such file.*arch_str,latency_ms"):
        table_from_csv(tmp_path / "absent.csv")


def test_resolve_device(tmp_path, tables):
    assert resolve_device("raspi4", tables) is tables["raspi4"]
    path = _write(tmp_path, [f"{a},{TRUE.genotype_cost(a)}" for a in _live(8)])
    assert resolve_device(str(path), tables).name == "dev"
    with pytest.raises(DeviceError) as exc:
        resolve_device("toaster", tables)
    assert all(name in str(exc.value) for name in SHARED_DEVICES) and "arch_str,latency_ms" in str(exc.value)


def test_build_table_caches_named_devices_and_refits_csv(tmp_path):
    assert build_table("raspi4", n_fit=60, seed=3) is build_table("raspi4", n_fit=60, seed=3)
    archs = _live(8)
    path = _write(tmp_path, [f"{a},{TRUE.genotype_cost(a)}" for a in archs])
    first = build_table(str(path))
    _write(tmp_path, [f"{a},{2 * TRUE.genotype_cost(a)}" for a in archs])  # the file changes: fitted again
    assert build_table(str(path)).base == pytest.approx(2 * first.base)


def test_lut_fit_report_is_tidy():
    report = lut_fit_report(n_fit=100, seed=1)
    assert list(report["device"]) == list(SHARED_DEVICES)
    assert {"origin", "n_fit", "n_test", "r2", "kendall_tau", "spearman", "base"} <= set(report.columns)
    assert all(f"cost_{op}_ms" in report.columns for op in NB201_PRIMITIVES)
    assert (report["cost_none_ms"] == 0).all() and (report["n_fit"] == 100).all()
    assert isinstance(report, pd.DataFrame) and not report.isna().any().any() and not math.isnan(report["r2"].min())
