"""The decoder exported to ONNX (what the browser runs) decodes exactly as model.decode: tiny models of every
family here; every shipped model on 100 seeded codes (float16 on disk, float32 in memory) within 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import tiny_config
from model_cases import CASE_IDS, MODEL_CASES

from aae_core import checkpoint
from aae_core.families import build_model
from aae_core.onnx_export import export_decoder, input_names

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "model.safetensors").is_file()
                 and p.name != "judge_mnist")
TOLERANCE = 1e-4


def seeded_inputs(model, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n codes from the model's prior (scaled out a little, past where training put codes) and, where the
    decoder takes one, class codes: one-hot rows and a few soft (probability) rows."""
    g = torch.Generator().manual_seed(seed)
    z = 1.5 * model.prior.sample(n, generator=g)
    feeds = {"z": z.float().numpy()}
    if model.classes:
        k = model.config.n_classes
        y = torch.nn.functional.one_hot(torch.randint(0, k, (n,), generator=g), k).float()
        y[: n // 4] = torch.softmax(3 * torch.randn(n // 4, k, generator=g), dim=1)
        feeds["class_code"] = y.numpy()
    return feeds


def max_difference(model, file: Path, n: int) -> float:
    feeds = seeded_inputs(model, n)
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names(model)
    (got,) = session.run(None, feeds)
    with torch.no_grad():
        y = torch.from_numpy(feeds["class_code"]) if "class_code" in feeds else None
        want = model.eval().decode(torch.from_numpy(feeds["z"]), y).reshape(n, -1).numpy()
    assert got.shape == (n, 784) and got.dtype == np.float32
    assert 0.0 <= got.min() and got.max() <= 1.0
    return float(np.abs(got - want).max())


@pytest.mark.parametrize("case", [*CASE_IDS, "alae"])
def test_every_family_exports_a_decoder_that_matches_decode(case, tmp_path):
    config = tiny_config("alae", latent_dim=5) if case == "alae" else MODEL_CASES[case]
    model = build_model(config, seed=0).train()
    file = export_decoder(model, tmp_path / "decoder.onnx")
    assert model.training, "export puts the model back in the mode it found it in"
    assert [p.name for p in tmp_path.iterdir()] == ["decoder.onnx"], "no temporary file is left behind"
    assert max_difference(model, file, 7) <= TOLERANCE   # 7: the batch axis is not the traced 2


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_decoder_exports_exactly(name, tmp_path):
    model = checkpoint.load(CHECKPOINTS / name, device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    assert max_difference(model, export_decoder(model, tmp_path / "d.onnx"), 100) <= TOLERANCE
