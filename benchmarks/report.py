"""Rebuild the README's results tables from benchmarks/results/*.json and checkpoints/*/metrics.json.

    python -m benchmarks.report            # rewrites the block between the RESULTS markers in README.md
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- RESULTS:BEGIN (python -m benchmarks.report) -->", "<!-- RESULTS:END -->"


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def quality_table() -> list[str]:
    rows = ["| model | kind / prior | latent | labels | epochs | recon MSE/pixel | prior-fit MMD (same-prior) "
            "| test error | own component | class sweep | evaluated on |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for folder in sorted((ROOT / "checkpoints").iterdir()):
        m = _load(folder / "metrics.json")
        c = _load(folder / "config.json")
        if not m or not c:
            continue
        err = m.get("classification_error", m.get("clustering_error"))
        fit = m.get("prior_fit", {})
        epochs = (c.get("progress") or {}).get("epoch")
        own = m.get("own_component_fraction")
        sweep = (m.get("class_sweep") or {}).get("accuracy")
        rows.append(
            f"| `{folder.name}` | {m['kind']} / {m['prior']} | {m['latent_dim']} | {m['n_labels']} | {epochs} "
            f"| {_fmt(m['reconstruction']['mse'])} | {_fmt(fit.get('mmd'))} ({_fmt(fit.get('mmd_same_prior'), 2)}) "
            f"| {'–' if err is None else f'{100 * err:.2f} %'} "
            f"| {'–' if own is None else f'{100 * own:.1f} %'} "
            f"| {'–' if sweep is None else f'{100 * sweep:.1f} %'} "
            f"| {m.get('evaluated_at', '')[:10]}, {m.get('device', '')} |")
    return rows


def speed_table() -> list[str]:
    rows = ["| benchmark | result | device | date |", "|---|---|---|---|"]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        r = _load(path)
        if not r:
            continue
        skip = {"benchmark", "date", "machine", "device", "curve", "train_config", "runs", "checkpoints",
                "vs_pythae", "trainings",
                "client", "queue", "error_samples", "server_log_tail",   # lecture_hall's details stay in its JSON
                "other_runs", "compared_with"}
        summary = ", ".join(f"{k}={_fmt(v) if not isinstance(v, dict) else json.dumps(v)}"
                            for k, v in r.items() if k not in skip)
        machine = r.get("machine", {})
        where = r.get("device") or machine.get("gpu") or machine.get("cpu")
        cores = machine.get("cores")
        rows.append(f"| `{path.stem}` | {summary} | {where} ({cores} cores) | {r.get('date', '')[:10]} |")
    return rows


def main() -> None:
    block = "\n".join([BEGIN, "", "Quality (MNIST test set, from each checkpoint's metrics.json):", "",
                       *quality_table(), "", "Speed (from benchmarks/results/):", "", *speed_table(), "", END])
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)
    print(block)


if __name__ == "__main__":
    main()
