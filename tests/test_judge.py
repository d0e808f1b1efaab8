"""The digit judge (aae_core.judge): its network, saving and loading without pickle, training, the
class-sweep check of supervised models, its command line, and the sweep in evaluate_checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from model_cases import MODEL_CASES
from safetensors import safe_open

import aae_core
from aae_core import evaluate as evaluate_cli
from aae_core import judge as judge_mod
from aae_core.data import ImageSet, load_dataset
from aae_core.errors import CheckpointConfigError, CheckpointNotFoundError, CorruptCheckpointError
from aae_core.families import build_model
from aae_core.judge import (
    JUDGE_CONFIG,
    JUDGE_FORMAT,
    JUDGE_WEIGHTS,
    DigitJudge,
    class_sweep_accuracy,
    has_class_sweep,
    judge_accuracy,
    load_judge,
    prior_class_sweep,
    save_judge,
    train_judge,
)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def fresh_judge(seed: int = 0) -> DigitJudge:
    torch.manual_seed(seed)
    return DigitJudge().eval()


@pytest.fixture
def saved_judge(tmp_path) -> Path:
    return save_judge(fresh_judge(), tmp_path / "judge", {"test_accuracy": 0.25, "note": "untrained"})


def block_digits(n: int, seed: int) -> ImageSet:
    """n noisy images whose class c is a bright 8x4 block at a class-specific place: separable."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    imgs = torch.randint(0, 60, (n, 28, 28), generator=g, dtype=torch.uint8)
    for i, c in enumerate(labels.tolist()):
        r, col = 3 + (c // 5) * 13, 2 + (c % 5) * 5
        imgs[i, r:r + 8, col:col + 4] = 255
    return ImageSet(imgs, labels)


# --- the network -----------------------------------------------------------------------------------

def test_judge_maps_flat_images_to_ten_logits_and_predict_keeps_the_mode():
    judge = DigitJudge().train()
    x = images(5)
    assert judge(x).shape == (5, 10)
    assert judge(x.reshape(5, 1, 28, 28)).shape == (5, 10)
    pred = judge.predict(x, batch_size=2)   # batched: 3 chunks
    assert pred.shape == (5,) and pred.dtype == torch.long
    assert ((pred >= 0) & (pred < 10)).all()
    assert judge.training   # predict runs in eval mode and puts the mode back
    with torch.no_grad():
        assert torch.equal(pred, judge.eval()(x).argmax(1))


# --- saving and loading ----------------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_predictions(saved_judge, tmp_path, monkeypatch):
    original = fresh_judge()
    assert sorted(p.name for p in saved_judge.iterdir()) == [JUDGE_CONFIG, JUDGE_WEIGHTS]
    assert [p.name for p in tmp_path.iterdir()] == ["judge"]   # no temp folders left behind
    # the weights are a plain safetensors file holding exactly the network's tensors
    with safe_open(str(saved_judge / JUDGE_WEIGHTS), "pt") as f:
        assert set(f.keys()) == set(original.state_dict())

    def no_pickle(*args, **kwargs):
        raise AssertionError("load_judge must not unpickle anything")

    monkeypatch.setattr(torch, "load", no_pickle)
    loaded, info = load_judge(saved_judge)
    assert isinstance(loaded, DigitJudge) and not loaded.training
    assert info["format"] == JUDGE_FORMAT and info["n_classes"] == 10
    assert info["test_accuracy"] == 0.25 and info["note"] == "untrained"
    x = images(40, seed=1)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))
    assert torch.equal(loaded.predict(x), original.predict(x))


def test_saving_over_a_judge_replaces_it(saved_judge, tmp_path):
    other = fresh_judge(seed=5)
    save_judge(other, saved_judge, {"test_accuracy": 0.5})
    loaded, info = load_judge(saved_judge)
    assert info["test_accuracy"] == 0.5 and "note" not in info
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in other.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["judge"]


def test_loading_a_missing_judge_says_how_to_make_one(tmp_path, saved_judge):
    with pytest.raises(CheckpointNotFoundError, match="python -m aae_core.judge"):
        load_judge(tmp_path / "nowhere")
    (saved_judge / JUDGE_WEIGHTS).unlink()
    with pytest.raises(CheckpointNotFoundError, match=JUDGE_WEIGHTS):
        load_judge(saved_judge)


@pytest.mark.parametrize("content", [
    b"{not json",
    b"\xff\xfe\x00",
    b"[1, 2]",
    json.dumps({"format": "aae-explorer-judge/999", "n_classes": 10}).encode(),
    json.dumps({"n_classes": 10}).encode(),
    json.dumps({"format_version": 1, "model": {}}).encode(),   # a model checkpoint's config, not a judge's
], ids=["invalid-json", "not-utf8", "a-list", "future-format", "no-format", "model-config"])
def test_a_bad_judge_json_is_a_config_error(saved_judge, content):
    (saved_judge / JUDGE_CONFIG).write_bytes(content)
    with pytest.raises(CheckpointConfigError, match=JUDGE_CONFIG):
        load_judge(saved_judge)


def test_a_judge_json_with_a_non_numeric_n_classes_is_a_config_error(saved_judge):
    (saved_judge / JUDGE_CONFIG).write_text(json.dumps({"format": JUDGE_FORMAT, "n_classes": "ten"}))
    with pytest.raises(CheckpointConfigError):
        load_judge(saved_judge)


def test_weights_that_do_not_fit_the_judge_are_corrupt(saved_judge):
    from safetensors.torch import save_file

    save_file({"features.0.weight": torch.zeros(3)}, str(saved_judge / JUDGE_WEIGHTS))
    with pytest.raises(CorruptCheckpointError, match=JUDGE_WEIGHTS):
        load_judge(saved_judge)
    # n_classes in judge.json that the saved head does not have
    save_judge(fresh_judge(), saved_judge, {})
    (saved_judge / JUDGE_CONFIG).write_text(json.dumps({"format": JUDGE_FORMAT, "n_classes": 7}))
    with pytest.raises(CorruptCheckpointError):
        load_judge(saved_judge)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_truncated_or_garbage_weights_file_is_corrupt(saved_judge, damage):
    file = saved_judge / JUDGE_WEIGHTS
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00garbage" * 20)
    with pytest.raises(CorruptCheckpointError):
        load_judge(saved_judge)


# --- training --------------------------------------------------------------------------------------

def test_train_judge_learns_a_separable_ten_class_set_and_is_seeded():
    train, test = block_digits(400, seed=0), block_digits(100, seed=1)
    logs: list[str] = []
    # 25 steps: 1.0 test accuracy for every seed tried (0-7)
    judge, acc = train_judge(train, test, epochs=1, batch_size=16, seed=3, device="cpu", log=logs.append)
    assert acc > 0.9
    assert acc == judge_accuracy(judge, test.to_float(), test.labels)
    assert not judge.training and next(judge.parameters()).device.type == "cpu"
    assert len(logs) == 1 and logs[0].startswith("judge epoch 1/1: test accuracy")
    untrained = judge_accuracy(fresh_judge(), test.to_float(), test.labels)
    assert untrained < 0.5
    again, acc2 = train_judge(train, test, epochs=1, batch_size=16, seed=3, device="cpu")
    assert acc2 == acc
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in judge.state_dict().items())


# --- the class sweep -------------------------------------------------------------------------------

class ConstantJudge(DigitJudge):
    """Reads every image as `answer`; records what it was shown."""

    def __init__(self, answer: int) -> None:
        super().__init__()
        self.answer, self.seen = answer, []

    def predict(self, x, batch_size=2000):
        self.seen.append(x.clone())
        return torch.full((x.shape[0],), self.answer, dtype=torch.long)


class DecodingJudge(DigitJudge):
    """Knows what the model decodes each style to with each class; reads the first `right` images of a
    sweep as the class they were decoded with, and the rest as the next class."""

    def __init__(self, decoded: list[torch.Tensor], right: int) -> None:
        super().__init__()
        self.decoded, self.right = decoded, right

    def predict(self, x, batch_size=2000):
        matches = [c for c, d in enumerate(self.decoded) if torch.allclose(x, d)]
        assert len(matches) == 1, "the sweep showed images that are not the decoded styles"
        c = matches[0]
        out = torch.full((x.shape[0],), (c + 1) % 10, dtype=torch.long)
        out[: self.right] = c
        return out


@pytest.mark.parametrize("case", ["unsupervised_gaussian", "clustering", "vae", "label_conditioned_mixture"])
def test_the_class_sweep_needs_a_model_whose_class_code_is_the_digit(case):
    model = build_model(MODEL_CASES[case], seed=0)
    assert not has_class_sweep(model)
    with pytest.raises(ValueError, match="supervised or semi-supervised"):
        class_sweep_accuracy(model, ConstantJudge(3), images(4))


def test_a_semi_supervised_model_is_swept_like_a_supervised_one():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0)     # its class code is the digit, predicted
    assert has_class_sweep(model)
    sweep = class_sweep_accuracy(model, ConstantJudge(3), images(4))
    assert sweep["n_styles"] == 4 and sweep["per_class"][3] == 1.0 and sweep["accuracy"] == pytest.approx(0.1)


@pytest.mark.parametrize("case", ["supervised", "label_conditioned_supervised"])
def test_a_judge_that_always_says_3_scores_one_class_in_ten(case):
    model = build_model(MODEL_CASES[case], seed=0)
    judge = ConstantJudge(3)
    x = images(7)
    out = class_sweep_accuracy(model, judge, x)
    assert out["per_class"] == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert out["accuracy"] == pytest.approx(0.1)
    assert out["n_styles"] == 7 and out["n_images"] == 70
    # the judge was shown the 7 styles decoded with each class in turn, as flat images in [0, 1]
    assert len(judge.seen) == 10
    with torch.no_grad():
        z = model.encode(x)
        for c, shown in enumerate(judge.seen):
            assert shown.shape == (7, 784) and 0 <= shown.min() and shown.max() <= 1
            assert torch.allclose(shown, model.decode(z, torch.full((7,), c)).reshape(7, -1))


def test_the_sweep_scores_each_class_by_what_the_judge_reads():
    model = build_model(MODEL_CASES["supervised"], seed=0)
    x = images(8, seed=2)
    with torch.no_grad():
        z = model.encode(x)
        decoded = [model.decode(z, torch.full((8,), c)).reshape(8, -1) for c in range(10)]
    perfect = class_sweep_accuracy(model, DecodingJudge(decoded, right=8), x)
    assert perfect["per_class"] == [1.0] * 10 and perfect["accuracy"] == pytest.approx(1.0)
    partly = class_sweep_accuracy(model, DecodingJudge(decoded, right=2), x)
    assert partly["per_class"] == [0.25] * 10 and partly["accuracy"] == pytest.approx(0.25)


@pytest.mark.parametrize("case", ["supervised", "label_conditioned_supervised", "semi_supervised"])
def test_the_prior_sweep_decodes_seeded_prior_styles_with_every_class(case):
    model = build_model(MODEL_CASES[case], seed=0).train()
    judge = ConstantJudge(3)
    out = prior_class_sweep(model, judge, n_styles=6, seed=4)
    assert model.training    # put back in the mode it was found in
    assert out["per_class"] == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert out["accuracy"] == pytest.approx(0.1)
    assert out["n_styles"] == 6 and out["n_images"] == 60
    z = model.prior.sample(6, generator=torch.Generator().manual_seed(4))
    model.eval()
    with torch.no_grad():
        for c, shown in enumerate(judge.seen):
            assert torch.allclose(shown, model.decode(z, torch.full((6,), c)).reshape(6, -1))
    again = ConstantJudge(3)
    prior_class_sweep(model, again, n_styles=6, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(judge.seen, again.seen, strict=True))   # seeded


def test_the_prior_sweep_scores_each_class_by_what_the_judge_reads():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0).eval()
    z = model.prior.sample(8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        decoded = [model.decode(z, torch.full((8,), c)).reshape(8, -1) for c in range(10)]
    assert prior_class_sweep(model, DecodingJudge(decoded, right=8), n_styles=8)["accuracy"] == pytest.approx(1.0)
    partly = prior_class_sweep(model, DecodingJudge(decoded, right=6), n_styles=8)
    assert partly["per_class"] == [0.75] * 10 and partly["accuracy"] == pytest.approx(0.75)


@pytest.mark.parametrize("case", ["unsupervised_gaussian", "clustering", "vae", "label_conditioned_mixture"])
def test_the_prior_sweep_needs_digit_classes_to_decode_with(case):
    model = build_model(MODEL_CASES[case], seed=0)
    assert not has_class_sweep(model)
    with pytest.raises(ValueError, match="supervised or semi-supervised"):
        prior_class_sweep(model, ConstantJudge(3))


# --- the command line ------------------------------------------------------------------------------

def test_judge_cli_refuses_zero_epochs_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        judge_mod.main(["--epochs", "0", "--out", str(tmp_path / "j")])
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines == ["python -m aae_core.judge: error: --epochs must be >= 1"]
    assert captured.out == "" and not (tmp_path / "j").exists()


def test_judge_cli_trains_and_saves_a_loadable_judge(tmp_path, fake_mnist_dir, capsys):
    out = tmp_path / "j"
    assert judge_mod.main(["--epochs", "1", "--out", str(out), "--data-dir", fake_mnist_dir,
                           "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    judge, info = load_judge(out)
    assert printed.items() <= info.items()
    assert info["dataset"] == "mnist" and info["epochs"] == 1 and info["seed"] == 0
    assert 0.0 <= info["test_accuracy"] <= 1.0
    assert info["command"].startswith("python -m aae_core.judge --epochs 1")
    _, test = load_dataset("mnist", data_dir=fake_mnist_dir, download=False)
    assert judge_accuracy(judge, test.to_float(), test.labels) == info["test_accuracy"]


# --- evaluate_checkpoint ---------------------------------------------------------------------------

@pytest.fixture
def no_shipped_judge(tmp_path, monkeypatch) -> Path:
    """Shipped checkpoints in an empty folder: the default judge lookup finds nothing."""
    ck = tmp_path / "shipped"
    ck.mkdir()
    monkeypatch.setenv("AAE_CHECKPOINTS_DIR", str(ck))
    return ck


def tiny_checkpoint(tmp_path: Path, kind: str = "supervised", **kwargs) -> Path:
    return aae_core.save(build_model(tiny_config(kind, latent_dim=3, **kwargs), seed=0), tmp_path / kind)


def evaluate(path, fake_mnist_dir, **kwargs):
    kwargs = {"device": "cpu", "n_test": 40, "write": False, "quality_samples": 200, **kwargs}
    return evaluate_cli.evaluate_checkpoint(path, data_dir=fake_mnist_dir, **kwargs)


def test_evaluate_runs_the_class_sweep_with_the_judge_asked_for(tmp_path, fake_mnist_dir, saved_judge,
                                                                no_shipped_judge, monkeypatch):
    ckpt = tiny_checkpoint(tmp_path)
    styles, sweep_fn = [], evaluate_cli.class_sweep_accuracy

    def spy(model, judge, x):
        styles.append(x.clone())
        return sweep_fn(model, judge, x)

    monkeypatch.setattr(evaluate_cli, "class_sweep_accuracy", spy)
    metrics = evaluate(ckpt, fake_mnist_dir, judge=saved_judge, sweep_styles=15, write=True)
    sweep = metrics["class_sweep"]
    assert 0.0 <= sweep["accuracy"] <= 1.0
    assert len(sweep["per_class"]) == 10 and all(0.0 <= p <= 1.0 for p in sweep["per_class"])
    assert sweep["accuracy"] == pytest.approx(sum(sweep["per_class"]) / 10)
    assert sweep["n_styles"] == 15 and sweep["n_images"] == 150
    assert sweep["judge"] == str(saved_judge) and sweep["judge_test_accuracy"] == 0.25
    assert aae_core.load_metrics(ckpt)["class_sweep"] == sweep
    # the styles are those of the first test images
    _, test = load_dataset("mnist", data_dir=fake_mnist_dir, download=False)
    assert len(styles) == 1 and torch.equal(styles[0], test.to_float()[:15])
    direct = class_sweep_accuracy(aae_core.load(ckpt), load_judge(saved_judge)[0], test.to_float()[:15])
    assert direct["per_class"] == sweep["per_class"]


def test_evaluate_sweeps_no_more_styles_than_test_images(tmp_path, fake_mnist_dir, saved_judge, no_shipped_judge):
    metrics = evaluate(tiny_checkpoint(tmp_path, label_conditioned=True), fake_mnist_dir, judge=saved_judge,
                       n_test=12)
    assert metrics["class_sweep"]["n_styles"] == 12 and metrics["class_sweep"]["n_images"] == 120
    assert "own_component_fraction" not in metrics


def test_evaluate_uses_the_shipped_judge_only_when_there_is_one(tmp_path, fake_mnist_dir, no_shipped_judge):
    ckpt = tiny_checkpoint(tmp_path)
    assert evaluate_cli.default_judge_path() == no_shipped_judge / "judge_mnist"
    assert "class_sweep" not in evaluate(ckpt, fake_mnist_dir)
    save_judge(fresh_judge(), no_shipped_judge / "judge_mnist", {"test_accuracy": 0.9})
    sweep = evaluate(ckpt, fake_mnist_dir, sweep_styles=5)["class_sweep"]
    assert sweep["judge"] == str(no_shipped_judge / "judge_mnist") and sweep["judge_test_accuracy"] == 0.9
    assert sweep["n_images"] == 50


@pytest.mark.parametrize("kind", ["unsupervised", "clustering", "vae", "semi_supervised"])
def test_evaluate_sweeps_only_models_whose_class_code_is_the_digit(kind, tmp_path, fake_mnist_dir, saved_judge,
                                                                    no_shipped_judge):
    save_judge(fresh_judge(), no_shipped_judge / "judge_mnist", {})
    ckpt = tiny_checkpoint(tmp_path, kind)
    swept = kind == "semi_supervised"                  # clusters are not digits; the others have no class code
    assert ("class_sweep" in evaluate(ckpt, fake_mnist_dir)) == swept
    assert ("class_sweep" in evaluate(ckpt, fake_mnist_dir, judge=saved_judge)) == swept


@pytest.mark.parametrize("kind", ["supervised", "semi_supervised"])
def test_evaluate_runs_the_prior_sweep_on_supervised_and_semi_supervised_models(kind, tmp_path, fake_mnist_dir,
                                                                               saved_judge, no_shipped_judge):
    ckpt = tiny_checkpoint(tmp_path, kind)
    assert "prior_class_sweep" not in evaluate(ckpt, fake_mnist_dir)     # no shipped judge: skipped
    sweep = evaluate(ckpt, fake_mnist_dir, judge=saved_judge, prior_styles=7)["prior_class_sweep"]
    assert sweep["n_styles"] == 7 and sweep["n_images"] == 70
    assert sweep["judge"] == str(saved_judge) and sweep["judge_test_accuracy"] == 0.25
    direct = prior_class_sweep(aae_core.load(ckpt), load_judge(saved_judge)[0], 7)
    assert direct["per_class"] == sweep["per_class"]
    assert "class_sweep" in evaluate(ckpt, fake_mnist_dir, judge=saved_judge)        # test styles too, both kinds


@pytest.mark.parametrize("kind", ["unsupervised", "clustering", "vae"])
def test_evaluate_runs_no_prior_sweep_without_digit_classes(kind, tmp_path, fake_mnist_dir, saved_judge,
                                                            no_shipped_judge):
    kwargs = {"n_classes": 16} if kind == "clustering" else {}
    assert "prior_class_sweep" not in evaluate(tiny_checkpoint(tmp_path, kind, **kwargs), fake_mnist_dir,
                                               judge=saved_judge)


def test_evaluate_with_a_missing_judge_is_an_error(tmp_path, fake_mnist_dir, no_shipped_judge, capsys):
    ckpt = tiny_checkpoint(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="python -m aae_core.judge"):
        evaluate(ckpt, fake_mnist_dir, judge=tmp_path / "no_judge")
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main([str(ckpt), "--data-dir", fake_mnist_dir, "--device", "cpu", "--n-test", "20",
                           "--judge", str(tmp_path / "no_judge")])
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m aae_core.evaluate: error: no judge at ")
    assert captured.out == "" and not (ckpt / "metrics.json").exists()


def test_evaluate_cli_with_a_damaged_shipped_judge_exits_2(tmp_path, fake_mnist_dir, no_shipped_judge, capsys):
    path = save_judge(fresh_judge(), no_shipped_judge / "judge_mnist", {})
    (path / JUDGE_WEIGHTS).write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main([str(tiny_checkpoint(tmp_path)), "--data-dir", fake_mnist_dir, "--device", "cpu",
                           "--n-test", "20"])
    assert info.value.code == 2
    assert "judge.safetensors" in capsys.readouterr().err


# --- one sample-quality number for every family -------------------------------------------------------

@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_evaluate_reads_decoded_prior_samples_of_every_family_with_the_judge(case, tmp_path, fake_mnist_dir,
                                                                            saved_judge, no_shipped_judge):
    ckpt = aae_core.save(build_model(MODEL_CASES[case], seed=0), tmp_path / case)
    quality = evaluate(ckpt, fake_mnist_dir, judge=saved_judge, quality_samples=300)["sample_quality"]
    assert 0.0 <= quality["sure_fraction"] <= 1.0 and quality["sure_threshold"] == judge_mod.SURE
    assert len(quality["digit_shares"]) == 10 and sum(quality["digit_shares"]) == pytest.approx(1.0)
    assert quality["min_digit_share"] == min(quality["digit_shares"])
    assert quality["n_samples"] == 300 and quality["judge"] == str(saved_judge)
    assert "sample_quality" not in evaluate(ckpt, fake_mnist_dir)           # no judge, no reading


class ConfidentJudge(torch.nn.Module):
    """Sure (p ~ 1) of digit 7 for images with any ink in the top-left pixel, else unsure (uniform)."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 10)
        logits[x[:, 0] > 0.5, 7] = 50.0
        return logits


def test_sample_quality_counts_what_the_judge_is_sure_of_and_each_digits_share():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0)
    z_seen = []
    real_decode = model.decode

    def decode(z, y=None):
        assert y is not None and y.shape == (z.shape[0],) and 0 <= int(y.min()) and int(y.max()) <= 9
        z_seen.append(z)
        images = real_decode(z, y).reshape(z.shape[0], -1).clone()
        images[:, 0] = (torch.arange(z.shape[0]) % 4 == 0).float()        # one in four draws a sure 7
        return images

    model.decode = decode
    out = judge_mod.sample_quality(model, ConfidentJudge(), 400, seed=3)
    assert out["sure_fraction"] == pytest.approx(0.25)
    assert out["digit_shares"][7] == pytest.approx(0.25) and out["min_digit_share"] == 0.0
    again = judge_mod.sample_quality(model, ConfidentJudge(), 400, seed=3)
    assert again == out and torch.equal(z_seen[0], z_seen[1])             # seeded


def test_add_sample_quality_keeps_every_other_number(tmp_path, fake_mnist_dir, saved_judge, no_shipped_judge):
    ckpt = tiny_checkpoint(tmp_path, "unsupervised")
    before = evaluate(ckpt, fake_mnist_dir, write=True)
    assert "sample_quality" not in before
    assert evaluate_cli.main([str(ckpt), "--add-sample-quality", "--judge", str(saved_judge),
                              "--device", "cpu"]) == 0
    after = aae_core.load_metrics(ckpt)
    assert {k: v for k, v in after.items() if k != "sample_quality"} == before
    assert after["sample_quality"]["n_samples"] == judge_mod.QUALITY_SAMPLES
