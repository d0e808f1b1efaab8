"""The latent map's projections and their disk cache (aae_core.projection)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_images, tiny_config

import aae_core
from aae_core import map_cache, projection
from explorer import catalog

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Keep the per-user projection cache inside the test's folder."""
    monkeypatch.setenv(projection.CACHE_ENV, str(tmp_path / "user_cache"))
    return tmp_path / "user_cache"


@pytest.fixture(scope="module")
def test_set():
    return synthetic_images(120, seed=3)


def _checkpoint(tmp_path: Path, name: str, seed: int = 0, **overrides) -> Path:
    return aae_core.save(aae_core.build_model(tiny_config(**overrides), seed=seed), tmp_path / name)


def _no_data():
    raise AssertionError("the cached path must not load the test set")


def test_pca_basis_is_orthonormal_follows_the_variance_and_has_fixed_signs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=g) * torch.tensor([0.1, 5.0, 0.2, 2.0, 0.1]) + 3.0
    mean, comps = projection.pca_basis(x.numpy())
    assert comps.shape == (5, 2) and mean.shape == (5,)
    np.testing.assert_allclose(comps.T @ comps, np.eye(2), atol=1e-5)
    assert np.argmax(np.abs(comps[:, 0])) == 1 and np.argmax(np.abs(comps[:, 1])) == 3
    assert comps[1, 0] > 0 and comps[3, 1] > 0
    _, flipped = projection.pca_basis(-x.numpy())            # the same cloud mirrored: same picture
    np.testing.assert_allclose(flipped, comps, atol=1e-5)


def test_a_2d_latent_is_its_own_map(tmp_path, test_set):
    model = aae_core.load(_checkpoint(tmp_path, "m2"))
    lmap = projection.compute_map(model, test_set, "latent", fingerprint="f", n_prior=50)
    z = model.encode(test_set.to_float()).numpy()
    np.testing.assert_allclose(lmap.xy, z, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(lmap.prior_xy, lmap.prior_z)
    np.testing.assert_array_equal(lmap.labels, test_set.labels.numpy())
    assert lmap.prior_z.shape == (50, 2)
    with pytest.raises(ValueError, match="umap, pca"):
        projection.check_method("latent", 4)


def test_pca_map_is_cached_in_the_checkpoint_folder_and_reloaded_without_data(tmp_path, test_set):
    folder = _checkpoint(tmp_path, "m4", latent_dim=4)
    model = aae_core.load(folder)
    fp = catalog.weights_fingerprint(folder)
    calls = []
    first = projection.get_map(model, "pca", fingerprint=fp, folder=folder,
                               load_test=lambda: calls.append(1) or test_set, n_prior=80)
    assert calls == [1]
    assert (folder / "projection_pca.safetensors").is_file()
    again = projection.get_map(model, "pca", fingerprint=fp, folder=folder, load_test=_no_data)
    for name in ("z", "labels", "prior_z", "xy", "prior_xy", "pca_mean", "pca_components"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    np.testing.assert_allclose(first.place(first.z), first.xy, atol=1e-4)  # the basis travels with the map
    assert not list(folder.glob(".*tmp"))                                    # the atomic write left nothing behind


def test_retrained_weights_invalidate_the_cache(tmp_path, test_set):
    folder = _checkpoint(tmp_path, "m", latent_dim=4)
    old_fp = catalog.weights_fingerprint(folder)
    projection.get_map(aae_core.load(folder), "pca", fingerprint=old_fp, folder=folder, load_test=lambda: test_set)
    _checkpoint(tmp_path, "m", seed=1, latent_dim=4)                        # retrained: new weights, same folder
    new_fp = catalog.weights_fingerprint(folder)
    assert new_fp != old_fp
    assert projection.load_cached("pca", new_fp, folder) is None
    model = aae_core.load(folder)
    fresh = projection.get_map(model, "pca", fingerprint=new_fp, folder=folder, load_test=lambda: test_set)
    np.testing.assert_allclose(fresh.z, model.encode(test_set.to_float()).numpy(), atol=1e-5)


def test_unwritable_folder_and_uploads_use_the_user_cache(tmp_path, test_set, user_cache, monkeypatch):
    folder = _checkpoint(tmp_path, "ro", latent_dim=4)
    fp = catalog.weights_fingerprint(folder)
    real_write = map_cache._write_atomic

    def write(file, lmap, *config):
        if Path(file).parent == folder:
            raise PermissionError(f"{folder} is read-only")
        real_write(file, lmap, *config)

    monkeypatch.setattr(map_cache, "_write_atomic", write)
    model = aae_core.load(folder)
    projection.get_map(model, "pca", fingerprint=fp, folder=folder, load_test=lambda: test_set)
    assert not (folder / "projection_pca.safetensors").exists()
    assert (user_cache / "projections" / fp / "projection_pca.safetensors").is_file()
    assert projection.load_cached("pca", fp, folder) is not None
    # an upload has no folder: same user-cache place, keyed by the weights' sha256
    assert projection.load_cached("pca", fp, None) is not None


def test_a_damaged_cache_file_is_recomputed(tmp_path, test_set):
    folder = _checkpoint(tmp_path, "d")
    fp = catalog.weights_fingerprint(folder)
    (folder / "projection_latent.safetensors").write_bytes(b"\x00garbage")
    assert projection.load_cached("latent", fp, folder) is None
    lmap = projection.get_map(aae_core.load(folder), "latent", fingerprint=fp, folder=folder,
                              load_test=lambda: test_set)
    assert projection.load_cached("latent", fp, folder).n_test == lmap.n_test == len(test_set)


@pytest.fixture
def fake_umap(monkeypatch):
    """A stand-in umap module: records fits and reports epochs through tqdm like the real one."""
    fits = []

    class UMAP:
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            fits.append(("graph", kwargs["precomputed_knn"][0].shape))    # the exact graph, made beforehand

        def fit_transform(self, x):
            fits.append(np.asarray(x).shape)
            out = self.kwargs["tqdm_kwds"]["file"]
            for k in (0, 100, 200):
                out.write(f"\r{k}/200 epochs")
            return np.asarray(x)[:, :2] * 2.0

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=UMAP))
    return fits


def test_umap_is_fitted_once_on_codes_and_prior_together_then_cached(tmp_path, test_set, fake_umap):
    folder = _checkpoint(tmp_path, "u", latent_dim=4)
    fp = catalog.weights_fingerprint(folder)
    model = aae_core.load(folder)
    progress = []
    lmap = projection.get_map(model, "umap", fingerprint=fp, folder=folder, load_test=lambda: test_set,
                              n_prior=30, progress=lambda f, m: progress.append((f, m)))
    assert fake_umap == [("graph", (len(test_set) + 30, 15)), (len(test_set) + 30, 4)]   # one fit, both clouds
    assert lmap.xy.shape == (len(test_set), 2) and lmap.prior_xy.shape == (30, 2)
    assert any("epoch 100 of 200" in m for _, m in progress)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    projection.get_map(model, "umap", fingerprint=fp, folder=folder, load_test=_no_data)
    assert len(fake_umap) == 2 and lmap.fit_points is None                  # fewer than FIT_POINTS: all fitted


def test_the_first_map_path_imports_neither_umap_nor_torch(tmp_path, test_set):
    """Listing checkpoints, reading a cached map and drawing it (the app's path to a shipped model's first
    map) must not pay for importing umap / numba (seconds) or torch (about 1.5 s on two cores)."""
    folder = _checkpoint(tmp_path, "c", latent_dim=4)
    fp = catalog.weights_fingerprint(folder)
    lmap = projection.compute_map(aae_core.load(folder), test_set, "pca", fingerprint=fp)
    projection.save_cached(projection.LatentMap(**{**lmap.__dict__, "method": "umap"}), folder)
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import explorer.picker, explorer.maps; "
            "from aae_core import map_cache; from explorer import catalog, figures; "
            f"[info] = catalog.list_checkpoints({str(tmp_path)!r}, {str(tmp_path / 'none')!r}); "
            "fp = catalog.weights_fingerprint(info.path); "
            "m = map_cache.load_cached('umap', fp, info.path); assert m is not None; "
            "figures.latent_map_figure(m); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('umap', 'numba', 'pynndescent', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_precompute_cli_writes_the_maps_a_checkpoint_needs(tmp_path, fake_mnist_dir):
    two = _checkpoint(tmp_path, "two")
    four = _checkpoint(tmp_path, "four", latent_dim=4)
    assert projection.main([str(two), "--data-dir", fake_mnist_dir]) == 0
    assert projection.main([str(four), "--method", "pca", "--data-dir", fake_mnist_dir]) == 0
    assert sorted(p.name for p in two.glob("projection_*")) == ["projection_latent.safetensors"]
    assert sorted(p.name for p in four.glob("projection_*")) == ["projection_pca.safetensors"]
    cached = projection.load_cached("pca", catalog.weights_fingerprint(four), four)
    assert cached.n_test == 200 and cached.prior_z.shape == (projection.DEFAULT_N_PRIOR, 4)
    with pytest.raises(SystemExit) as exc:
        projection.main([str(two), "--method", "umap", "--data-dir", fake_mnist_dir])
    assert exc.value.code == 2                                              # a 2-D latent has nothing to project


# --- a cache is checked against what it describes ---------------------------------------------------------
def _rewrite(file: Path, **changes) -> None:
    """Rewrite a cache file with some arrays changed, its metadata (and so its fingerprint) kept."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(file), framework="np") as fh:
        meta, arrays = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    arrays.update(changes)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(file), metadata=meta)


@pytest.mark.parametrize("damage", ["5 rows", "nan positions", "inf codes", "3 columns", "labels short",
                                    "prior columns", "codes of another size"])
def test_a_cache_with_the_right_fingerprint_but_not_of_its_map_is_recomputed(tmp_path, test_set, damage):
    folder = _checkpoint(tmp_path, "m4", latent_dim=4)
    fp = catalog.weights_fingerprint(folder)
    lmap = projection.get_map(aae_core.load(folder), "pca", fingerprint=fp, folder=folder, load_test=lambda: test_set,
                              n_prior=40)
    file = folder / "projection_pca.safetensors"
    n = len(test_set)
    assert projection.load_cached("pca", fp, folder, n_test=n, latent_dim=4) is not None
    xy = lmap.xy.copy()
    xy[3, 1] = np.nan
    z = lmap.z.copy()
    z[0, 0] = np.inf
    _rewrite(file, **{
        "5 rows": dict(z=lmap.z[:5], labels=lmap.labels[:5], xy=lmap.xy[:5]),
        "nan positions": dict(xy=xy),
        "inf codes": dict(z=z),
        "3 columns": dict(xy=np.concatenate([lmap.xy, lmap.xy[:, :1]], 1)),
        "labels short": dict(labels=lmap.labels[:-1]),
        "prior columns": dict(prior_xy=lmap.prior_xy[:, :1]),
        "codes of another size": dict(z=lmap.z[:, :3], prior_z=lmap.prior_z[:, :3], pca_mean=lmap.pca_mean[:3],
                                      pca_components=lmap.pca_components[:3]),
    }[damage])
    assert projection.load_cached("pca", fp, folder, n_test=n, latent_dim=4) is None
    again = projection.get_map(aae_core.load(folder), "pca", fingerprint=fp, folder=folder, n_test=n,
                               load_test=lambda: test_set, n_prior=40)
    assert again.n_test == n and np.isfinite(again.xy).all()


def test_read_only_folders_with_the_same_weights_and_other_configs_do_not_share_a_map(tmp_path, test_set,
                                                                                      user_cache, monkeypatch):
    import json
    import shutil

    a = _checkpoint(tmp_path, "a", latent_dim=2)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    meta = json.loads((b / "config.json").read_text())
    meta["model"]["prior_std"] = 5.0                                         # the same weights, another prior
    (b / "config.json").write_text(json.dumps(meta))
    monkeypatch.setattr(map_cache, "_write_atomic", _read_only_except_user_cache(map_cache._write_atomic, tmp_path))
    fp = catalog.weights_fingerprint(a)
    assert fp == catalog.weights_fingerprint(b)
    key_a, key_b = (projection.config_key(json.loads((f / "config.json").read_text())["model"]) for f in (a, b))
    assert key_a != key_b
    first = projection.get_map(aae_core.load(a), "latent", fingerprint=fp, folder=a, config=key_a,
                               load_test=lambda: test_set, n_prior=40)
    assert projection.load_cached("latent", fp, a, config=key_a) is not None
    assert projection.load_cached("latent", fp, b, config=key_b) is None   # b's prior samples are not a's
    second = projection.get_map(aae_core.load(b), "latent", fingerprint=fp, folder=b, config=key_b,
                                load_test=lambda: test_set, n_prior=40)
    assert np.abs(second.prior_z).max() > 2 * np.abs(first.prior_z).max()
    assert projection.load_cached("latent", fp, a, config=key_a).prior_z.tolist() == first.prior_z.tolist()


def _read_only_except_user_cache(real_write, folders_root: Path):
    def write(file, lmap, *config):
        if Path(file).is_relative_to(folders_root) and "user_cache" not in Path(file).parts:
            raise PermissionError(f"{Path(file).parent} is read-only")
        real_write(file, lmap, *config)
    return write
