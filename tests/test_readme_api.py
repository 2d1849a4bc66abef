"""The README's Python API example runs as printed (a new device CSV and the ONNX file go to a temp folder)."""

import os
import re
from pathlib import Path

import pandas as pd

from nas.costs.devices import load_latency_table

REPO = Path(__file__).resolve().parent.parent


def test_python_api_example_runs(tmp_path):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    lat = load_latency_table().sample(40, random_state=0)
    pd.DataFrame({"arch_str": lat["arch_str"], "latency_ms": lat["pixel3"]}).to_csv(tmp_path / "my_phone.csv",
                                                                                    index=False)
    code = code.replace('"my_phone.csv"', repr(str(tmp_path / "my_phone.csv")))
    code = code.replace('"cell.onnx"', repr(str(tmp_path / "cell.onnx")))
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented example itself
    finally:
        os.chdir(cwd)
    assert (tmp_path / "cell.onnx").stat().st_size > 0
    assert namespace["d"].pred_latency_ms <= 20.0 and len(namespace["rows"]) == 3
