"""The model catalogue behind the picker: the shipped checkpoints and the app's runs, each with its config
and metrics, read from JSON only (listing models does not import torch).

The folders come from environment variables so that tests and deployments can point elsewhere:
$AAE_CHECKPOINTS_DIR (default <repo>/checkpoints) and $AAE_RUNS_DIR (default <repo>/runs).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aae_core
from aae_core import map_cache
from aae_core import metric_schema as S
from aae_core.checkpoint_meta import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, is_checkpoint, read_meta
from aae_core.config import ModelConfig
from aae_core.errors import CheckpointConfigError, CheckpointError, CheckpointNotFoundError
from aae_core.fit_verdict import fit_reference
from aae_core.prior_shapes import shape_of
from explorer import family_text

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS_ENV, RUNS_ENV = "AAE_CHECKPOINTS_DIR", "AAE_RUNS_DIR"
Source = Literal["shipped", "run"]

def checkpoints_dir() -> Path:
    """The shipped checkpoints: $AAE_CHECKPOINTS_DIR, else <repo>/checkpoints."""
    env = os.environ.get(CHECKPOINTS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "checkpoints"


def runs_dir() -> Path:
    """Where runs started from the app are written: $AAE_RUNS_DIR, else <repo>/runs (gitignored)."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "runs"


def describe_config(config: ModelConfig) -> str:
    """One line a student can read, e.g. 'semi-supervised AAE, 10-D style + 10 classes, 100 labels'."""
    try:
        family = aae_core.families.get_family(config.kind)   # torch: the families load on first ask
    except ValueError as exc:    # a config read before the families were loaded names a kind none of them is
        return f"a model of unknown kind ({exc})"
    return family_text.describe(config, family)


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint folder found on disk, read from its JSON files. mtime_ns is the weights file's, so a
    retrained model differs.

    `model` is config.json's description of the model as stored; `config` turns it into a checked
    ModelConfig on first use (checked by its family where the families are loaded; the picker and a cached
    latent map need only the stored description, so a fresh server draws its first map without torch)."""

    path: Path
    source: Source
    name: str
    model: dict[str, Any]
    mtime_ns: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    metrics: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def ref(self) -> str:
        """A stable string naming this checkpoint (its resolved path)."""
        return str(self.path)

    @property
    def owner(self) -> str | None:
        """The app user that trained it, when it came from the Train page."""
        return self.meta.get("app_user")

    @functools.cached_property
    def config(self) -> ModelConfig:
        """The checked model config; CheckpointConfigError when config.json describes no valid model."""
        try:
            return ModelConfig.from_dict(dict(self.model))
        except (TypeError, ValueError) as exc:
            raise CheckpointConfigError(f"{self.path / CONFIG_FILE} describes an invalid model: {exc}") from None

    @property
    def latent_dim(self) -> int:
        """The latent size as stored (read without building the config)."""
        return int(self.model.get("latent_dim", 0))


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


# read_info's results by folder, kept while the folder's files are unchanged: every whole rerun of every session
# lists the models (the picker), and parsing each config.json and metrics.json again was a tenth of the server's
# time with a class of 20 (py-spy, benchmarks/lecture_hall.py). A CheckpointInfo is shared, so never changed.
_INFOS: dict[tuple[str, str, str | None], tuple[tuple, CheckpointInfo]] = {}
_INFOS_LOCK = threading.Lock()
_INFOS_MAX = 1024


def _signature(path: Path) -> tuple:
    """What changes when any file read_info reads is rewritten (atomic writes replace the file: a new inode)."""
    out = []
    for name in (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE):
        try:
            st = (path / name).stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def read_info(path: str | Path, source: Source, name: str | None = None) -> CheckpointInfo:
    """CheckpointInfo of one folder, from its JSON files only; CheckpointError when it is not a checkpoint
    folder or its config.json is not one (aae_core.checkpoint_meta.read_meta, the loader's reader too).
    Read again only when one of its files changed (by inode, size or mtime)."""
    path = Path(path).resolve()
    if not is_checkpoint(path):
        raise CheckpointNotFoundError(f"{path} needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    key, signature = (str(path), source, name), _signature(path)
    with _INFOS_LOCK:
        held = _INFOS.get(key)
    if held is not None and held[0] == signature:
        return held[1]
    meta = read_meta(path)
    model = meta.pop("model")
    metrics = _read_json(path / METRICS_FILE)
    info = CheckpointInfo(path=path, source=source, name=name or path.name, model=model,
                          mtime_ns=(path / WEIGHTS_FILE).stat().st_mtime_ns, meta=meta,
                          metrics=metrics if isinstance(metrics, dict) else None)
    with _INFOS_LOCK:
        if len(_INFOS) >= _INFOS_MAX:
            _INFOS.pop(next(iter(_INFOS)))                 # the oldest entry
        _INFOS[key] = signature, info
    return info


def _scan(root: Path, source: Source, depth: int = 2) -> list[CheckpointInfo]:
    found: list[CheckpointInfo] = []
    if not root.is_dir():
        return found

    def walk(folder: Path, level: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if is_checkpoint(child):
                try:
                    found.append(read_info(child, source, str(child.relative_to(root))))
                except CheckpointError as exc:  # a broken folder must not hide the others
                    log.warning("skipping %s: %s", child, exc)
            elif level < depth:
                walk(child, level + 1)

    walk(root, 1)
    return found


def list_checkpoints(shipped: str | Path | None = None, runs: str | Path | None = None) -> list[CheckpointInfo]:
    """Every readable checkpoint folder: shipped ones first (by name), then runs (newest first).

    Folders up to two levels down are found (runs/NAME and runs/GROUP/NAME); unreadable ones are skipped."""
    shipped_root = Path(shipped) if shipped is not None else checkpoints_dir()
    runs_root = Path(runs) if runs is not None else runs_dir()
    shipped_list = _scan(shipped_root, "shipped")
    seen = {i.path for i in shipped_list}
    run_list = [i for i in _scan(runs_root, "run") if i.path not in seen]
    run_list.sort(key=lambda i: i.mtime_ns, reverse=True)
    return shipped_list + run_list


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}
_FP_LOCK = threading.Lock()


def weights_fingerprint(path: str | Path) -> str:
    """sha256 of a checkpoint's model.safetensors (path: the folder or the file), the key of its cached maps
    (aae_core.map_cache.weights_fingerprint), memoised by size and mtime: every rerun of a page asks."""
    file = Path(path)
    if file.is_dir():
        file = file / WEIGHTS_FILE
    st = file.stat()
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns)
    with _FP_LOCK:
        if key in _FINGERPRINTS:
            return _FINGERPRINTS[key]
    digest = map_cache.weights_fingerprint(file)
    with _FP_LOCK:
        _FINGERPRINTS[key] = digest
    return digest


def plural(n: int, noun: str) -> str:
    """'1 epoch', '12 epochs', '1,000 steps'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def prior_description(config: ModelConfig) -> str:
    """What the codes of a model are matched to, in a few words: 'gaussian, σ = 5', 'mixture', or for a
    learned distribution (ALAE) the family's own words."""
    if family_text.of(config.kind).pulled_by == "learned":
        return family_text.of(config.kind).prior_words
    return config.prior.replace("_", " ") + (f", σ = {config.prior_std:g}" if shape_of(config.prior).has_std else "")


def summarize_metrics(metrics: dict[str, Any] | None) -> dict[str, str]:
    """The headline numbers of a metrics.json (written by `python -m aae_core.evaluate`), readable."""
    if not metrics:
        return {}
    shown = {m.label: m.show(metrics) for m in (S.MSE, S.CLASSIFICATION_ERROR, S.CLUSTERING_ERROR)}
    mmd = S.MMD.read(metrics)
    if mmd is not None:  # beside the reference the verdict uses (never a negative "prior vs itself")
        reference = fit_reference(S.MMD_SAME_PRIOR.read(metrics) or 0.0)
        shown[S.MMD.label] = f"{S.MMD.format(mmd)} (same-prior reference {reference:.4f})"
    shown[S.OWN_COMPONENT.label] = S.OWN_COMPONENT.show(metrics)
    shown[S.SAMPLES_SURE.label] = sample_quality_line(metrics)
    shown |= {m.label: m.show(metrics) for m in (S.CLASS_SWEEP, S.N_TEST)}
    return {label: value for label, value in shown.items() if value is not None}


NOT_EVALUATED = "not evaluated"
SAMPLE_QUALITY_NOTE = (
    "The same measure for every family (`python -m aae_core.evaluate`): 10,000 codes drawn from the model's prior "
    "(an ALAE's learned F(z); a class code drawn at random where the decoder takes one) are decoded and read by "
    "a digit classifier trained on real MNIST (checkpoints/judge_mnist). 'Sure' means its top probability is at "
    "least 0.9; each digit's share shows whether the model draws every digit or favours some.")


def sample_quality_line(metrics: dict[str, Any] | None) -> str | None:
    """metrics.json's sample_quality in a few words: '87.3 % (fewest: 5, 6.1 % of samples)', or None."""
    sure, shares = S.SAMPLES_SURE.read(metrics), S.sample_shares(metrics)
    if sure is None or not shares:
        return None
    fewest = min(range(len(shares)), key=shares.__getitem__)
    return f"{S.SAMPLES_SURE.format(sure)} (fewest: {fewest}, {100 * shares[fewest]:.1f} % of samples)"


def sample_quality_table(named: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Rows 'judge is sure' and 'read as 0' .. 'read as 9', one column per named metrics.json ('not evaluated'
    where it holds no sample_quality)."""
    rows = [{"decoded prior samples": "the judge is sure of"}] + [
        {"decoded prior samples": f"read as {d}"} for d in range(10)]
    for name, metrics in named.items():
        sure, shares = S.SAMPLES_SURE.read(metrics), S.sample_shares(metrics)
        values = [sure, *shares] if sure is not None and shares and len(shares) == 10 else [None] * 11
        for row, v in zip(rows, values, strict=True):
            row[name] = NOT_EVALUATED if v is None else f"{100 * v:.1f} %"
    return rows


def model_rows(infos: list[CheckpointInfo]) -> list[dict[str, str]]:
    """Home's table of models: name, source, description, the family's headline metric (family_text's headline:
    each family's own number, as 'name: value') and the reconstruction error every family has; every cell a
    string, 'not evaluated' where metrics.json is missing."""
    rows = []
    for i in infos:
        metrics = i.metrics or {}
        metric = family_text.of(i.config.kind).headline if metrics else S.MMD
        if metric.read(metrics) is None:
            metric = S.MMD                   # every family's fallback: how close the codes are to the prior
        value = metric.show(metrics)
        rows.append({"name": i.name, "source": i.source, "model": describe_config(i.config),
                     "headline metric": f"{metric.label}: {value}" if value else NOT_EVALUATED,
                     "samples the judge is sure of": sample_quality_line(metrics) or NOT_EVALUATED,
                     S.MSE.label: S.MSE.show(metrics) or NOT_EVALUATED})
    return rows
