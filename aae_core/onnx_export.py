"""A model's decoder as an ONNX file, for decoding in the browser (onnxruntime-web).

One graph for every family: inputs `z` [N, latent_dim] float32 and, where the decoder takes a class code,
`class_code` [N, n_classes] float32 (one-hot, or the probabilities a classifier gives); output `image`
[N, 784] in [0, 1], exactly `model.decode` (sigmoid of the logits; ALAE's (G(w) + 1) / 2 clipped). The batch
axis is dynamic. The legacy TorchScript exporter is used (dynamo=False): it needs only the `onnx` package.

    python -m aae_core.onnx_export checkpoints/supervised_style_2d decoder.onnx
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from torch import nn

from aae_core import checkpoint
from aae_core.families import AAEModel, device_of
from aae_core.fsutil import atomic_write

OPSET = 17
INPUT_Z, INPUT_CLASS, OUTPUT = "z", "class_code", "image"


class DecoderGraph(nn.Module):
    """model.decode as the exported graph sees it: (z [N, d], class_code [N, K] where needed) -> [N, 784]."""

    def __init__(self, model: AAEModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, class_code: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(z, class_code).reshape(z.shape[0], -1)


def input_names(model: AAEModel) -> list[str]:
    """The graph's input names, in order: ['z'] or ['z', 'class_code']."""
    return [INPUT_Z, INPUT_CLASS] if model.classes else [INPUT_Z]


def example_inputs(model: AAEModel, n: int = 2) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes (zeros codes, class 0) for tracing."""
    z = torch.zeros(n, model.config.latent_dim)
    if not model.classes:
        return (z,)
    y = torch.zeros(n, model.config.n_classes)
    y[:, 0] = 1.0
    return z, y


def export_decoder(model: AAEModel, path: str | Path) -> Path:
    """Write the decoder of `model` (float32, on the CPU) as ONNX to `path`, atomically (a temporary file in
    the same folder, then a rename). The model is put back in the mode it was in. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    device = device_of(model)
    graph = DecoderGraph(model.float().cpu().eval())
    names = input_names(model)

    def write(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            # the shape checks in decode() are traced as constants: the batch axis stays dynamic (tested)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(graph, example_inputs(model), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=names, output_names=[OUTPUT],
                              dynamic_axes={name: {0: "n"} for name in [*names, OUTPUT]})

    try:
        atomic_write(path, write, mode=0o644)
    finally:
        model.to(device).train(was_training)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("out", help="the .onnx file to write")
    args = parser.parse_args(argv)
    print(export_decoder(checkpoint.load(args.checkpoint), args.out))


if __name__ == "__main__":
    main()
