"""Command line: copy a trained checkpoint into a shippable one (no optimizer state, float16 weights).

    python -m aae_core.export runs/ssl100 checkpoints/semi_supervised_100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoint import load, read_config, save
from .config import TrainConfig
from .errors import AAEError, CheckpointSaveError, OutputPathError
from .fsutil import check_replaceable, check_writable, is_checkpoint_folder
from .snapshots import copy_timeline


def export_checkpoint(src: str | Path, dst: str | Path, *, half: bool = True) -> Path:
    """Re-save the model in `src` at `dst` for shipping: weights only (float16 when half), with the
    training config, progress, history and command of the run kept in config.json, and its training
    timeline (snapshots) where it recorded one."""
    meta = read_config(src)
    model = load(src)
    keep = {k: meta[k] for k in ("progress", "history", "command", "precision") if k in meta}
    train_config = TrainConfig.from_dict(meta["training"]) if meta.get("training") else None
    out = save(model, dst, train_config=train_config, half=half, extra=keep)
    copy_timeline(src, dst, model.config.latent_dim)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aae_core.export", description=__doc__)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--float32", action="store_true", help="keep float32 weights")
    p.add_argument("--overwrite", action="store_true", help="replace the checkpoint already at DST")
    args = p.parse_args(argv)
    try:
        src, dst = Path(args.src).resolve(), Path(args.dst).resolve()
        if dst.is_relative_to(src) or src.is_relative_to(dst):
            raise OutputPathError(f"{args.dst} is the run it exports ({args.src}), or inside it or around it; "
                                  "exporting there would lose the run's optimizer state, metrics and map "
                                  "caches. Choose a DST outside SRC")
        check_replaceable(args.dst)  # a folder that is not a checkpoint is never replaced
        if is_checkpoint_folder(args.dst) and not args.overwrite:
            raise OutputPathError(f"{args.dst} already holds a checkpoint; pass --overwrite to replace it")
        check_writable(args.dst)
        export_checkpoint(args.src, args.dst, half=not args.float32)
    except CheckpointSaveError as exc:
        p.exit(1, f"{p.prog}: error: {exc}\n")
    except AAEError as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    print(f"exported {args.src} -> {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
