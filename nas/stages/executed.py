"""Executed stage notebooks as Jupyter shows them: each progress bar's stream output reduced to its final state."""

from __future__ import annotations

from pathlib import Path


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


def compact_streams(path: str | Path, final_path: str | Path | None = None) -> None:
    """Keep only the final state of each progress bar in the stream outputs of an executed notebook,
    and record papermill's input and output paths relative to the repository (``final_path``: where
    the notebook will live, if it is executed under a temporary name).

    A text progress bar writes one stream output per refresh; Jupyter shows only the last, and
    keeping them all made an executed search notebook 9 MB. Other output is left as it is.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key, value in (("input_path", meta.get("input_path")), ("output_path", final_path or meta.get("output_path"))):
        if value:
            meta[key] = _repo_relative(value)
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
    from nas.results import atomic_writer

    with atomic_writer(path) as handle:  # a kill mid-write leaves the previous notebook intact
        nbformat.write(nb, handle)


def _repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository root when inside it (no machine's absolute paths in a committed file)."""
    from nas.results import repo_root

    p = Path(path).resolve()
    return p.relative_to(repo_root()).as_posix() if p.is_relative_to(repo_root()) else p.name
