"""The library functions behind the teaching pages: MNIST-style preprocessing of a drawing, confusion
matrices, cluster purity, per-dimension histograms and the prior-fit verdict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aae_core import metrics as M
from aae_core.preprocess import centre_of_mass, to_grey, to_mnist


def stroke(h: int = 280, w: int = 280) -> np.ndarray:
    """A thick, tall, off-centre stroke drawn on a black RGBA canvas: an L in the top-left corner."""
    canvas = np.zeros((h, w, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[20:200, 30:50, :3] = 255          # the upright: 180 tall
    canvas[180:200, 30:110, :3] = 255        # the foot: 80 wide
    return canvas


def test_a_drawing_is_scaled_to_a_20_pixel_box_and_centred_by_its_mass():
    out = to_mnist(stroke())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ink = out > 0.05 * 255
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert rows[-1] - rows[0] + 1 == 20                                   # the longer side fills the box
    assert 8 <= cols[-1] - cols[0] + 1 <= 10                               # 80/180 of 20: aspect kept
    cy, cx = centre_of_mass(out.astype(np.float64))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5                     # mass at the centre
    assert out.max() == 255                                                # strokes stay saturated


def test_the_same_stroke_anywhere_and_at_any_size_gives_the_same_digit():
    big = stroke()[..., 0]                                                  # the L on a 280 canvas
    small = np.zeros((200, 200), np.uint8)
    small[100:190, 90:130] = big[20:200:2, 30:110:2]                         # half the size, elsewhere
    a, b = to_mnist(big).astype(int), to_mnist(small).astype(int)
    assert (a > 0).sum() == pytest.approx((b > 0).sum(), rel=0.1)
    # the same picture up to a pixel (a centre of mass on a half pixel may round either way)
    best = min(np.abs(np.roll(a, (dy, dx), (0, 1)) - b).mean() for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert best < 10


def test_a_blank_canvas_gives_nothing_and_bad_shapes_are_refused():
    assert to_mnist(np.zeros((280, 280, 4), np.uint8)) is None
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        to_grey(np.zeros((10, 10, 2)))
    # transparent ink does not count: alpha multiplies the colour
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:20, 10:20, :3] = 255
    assert to_mnist(rgba) is None


def test_confusion_matrix_counts_label_against_prediction():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    pred = torch.tensor([0, 3, 1, 2, 2, 0])
    cm = M.confusion_matrix(labels, pred, 3, 4)
    assert cm.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 2, 0]]
    assert int(cm.sum()) == 6
    with pytest.raises(ValueError, match="0..3"):
        M.confusion_matrix(labels, pred + 1, 3, 4)


def test_cluster_report_names_each_cluster_after_its_majority_with_its_purity():
    clusters = torch.tensor([0, 0, 0, 1, 1, 3, 3, 3, 3])
    labels = torch.tensor([7, 7, 2, 4, 4, 1, 1, 1, 9])
    report = M.cluster_report(M.confusion_matrix(labels, clusters, 10, 4))
    assert [r["label"] for r in report] == M.cluster_majority_labels(clusters, labels, 4).tolist()
    assert [r["size"] for r in report] == [3, 2, 0, 4]
    assert [r["purity"] for r in report] == pytest.approx([2 / 3, 1.0, 0.0, 0.75])


def test_histograms_of_codes_drawn_from_the_prior_follow_its_density():
    g = torch.Generator().manual_seed(0)
    z, p = 2.0 * torch.randn(20000, 3, generator=g), 2.0 * torch.randn(20000, 3, generator=g)
    z[:, 2] = z[:, 2].abs()                                                 # one dimension off the prior
    edges, dz, dp = M.dimension_histograms(z, p, bins=30)
    assert edges.shape == (3, 31) and dz.shape == dp.shape == (3, 30)
    centres = (edges[:, 1:] + edges[:, :-1]) / 2
    analytic = M.gaussian_density(centres, std=2.0)
    assert (dp - analytic).abs().max() < 0.02                              # the prior's histogram is its density
    assert (dz[:2] - analytic[:2]).abs().max() < 0.02
    assert (dz[2] - analytic[2]).abs().max() > 0.1                         # the folded one is not
    width = edges[:, 1:] - edges[:, :-1]
    assert ((dp * width).sum(1) > 0.99).all()                              # densities integrate to ~1


def test_fit_verdict_uses_the_same_prior_reference_with_a_noise_floor():
    assert M.fit_verdict(0.0004, -0.0003)[0] == "match"                   # unsupervised_gaussian_2d's numbers
    assert M.fit_verdict(0.0017, -0.0003)[0] == "close"                   # vae_2d's
    level, text = M.fit_verdict(0.0053, -0.0001)                           # clustering_16's
    assert level == "mismatch" and "18x" in text
    assert M.fit_verdict(0.02, 0.005)[0] == "close"                        # a larger reference widens the bar
    assert "3x" in M.fit_verdict(0.0, 0.0)[1]


def test_a_drawn_image_becomes_a_point_with_the_models_own_class_code():
    from conftest import tiny_config

    from aae_core import explore
    from aae_core.families import build_model

    image = to_mnist(stroke())
    semi = build_model(tiny_config("semi_supervised", latent_dim=4), seed=0)
    point = explore.point_from_image(semi, image, "drawn")
    assert point.z.shape == (4,) and np.allclose(point.z, explore.encode(semi, image[None])[0])
    assert point.y.shape == (10,) and point.y.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(point.image, image) and point.label is None
    sup = build_model(tiny_config("supervised", latent_dim=2), seed=0)
    assert explore.point_from_image(sup, image).y is None                # no label to decode through


def test_exports_write_pngs_and_csvs_that_read_back():
    import csv
    import io

    from PIL import Image

    from explorer import exports

    images = np.stack([to_mnist(stroke()), np.zeros((28, 28), np.uint8)])
    png = exports.png_bytes(exports.strip(images, scale=2))
    back = np.asarray(Image.open(io.BytesIO(png)))
    assert back.shape == (56, 2 * 56 + 4) and np.array_equal(back[:, :56], np.repeat(np.repeat(images[0], 2, 0), 2, 1))
    with pytest.raises(ValueError, match="uint8"):
        exports.png_bytes(np.zeros((4, 4), np.float32))
    rows = [{"digit": 0, "class 0": 5}, {"digit": 1, "class 0": 7}]
    assert list(csv.DictReader(io.StringIO(exports.csv_bytes(rows).decode()))) == [
        {"digit": "0", "class 0": "5"}, {"digit": "1", "class 0": "7"}]
