"""config.json's one reader (aae_core.checkpoint_meta): hostile shapes of JSON are one clear CheckpointConfigError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, run

from aae_core.checkpoint_meta import CONFIG_FILE, MAX_JSON_DEPTH, WEIGHTS_FILE, parse_meta, read_meta
from aae_core.errors import CheckpointConfigError
from aae_core.uploads import read_upload

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "unsupervised_gaussian_2d"


def nested(depth: int, inner: str = "1") -> str:
    return '{"format_version": 1, "model": {"kind": "unsupervised", "x": ' + "[" * depth + inner + "]" * depth + "}}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 10_000, 200_000])
def test_json_nested_too_deeply_is_one_config_error(depth):
    with pytest.raises(CheckpointConfigError, match="nested too deeply") as info:
        parse_meta(nested(depth), "upload/config.json")
    assert "upload/config.json" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointConfigError, match="nested too deeply"):
        parse_meta(nested(depth).encode(), "upload/config.json")


def test_objects_nested_too_deeply_are_refused_as_well():
    text = '{"format_version": 1, "model": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    with pytest.raises(CheckpointConfigError, match="nested too deeply"):
        parse_meta(text, "config.json")


def test_nesting_within_the_limit_and_brackets_inside_strings_are_read():
    meta = parse_meta(nested(MAX_JSON_DEPTH - 3), "config.json")
    assert meta["model"]["kind"] == "unsupervised"
    deep_text = '"' + "[{" * 5000 + '\\"' + "]}" * 10 + '"'                # brackets inside a string are text
    assert parse_meta(nested(1, deep_text), "config.json")["model"]["x"] == ["[{" * 5000 + '"' + "]}" * 10]
    assert read_meta(SHIPPED)["model"]["kind"]                              # every shipped config still reads


def test_evaluate_of_a_deeply_nested_config_exits_2_in_one_line(tmp_path):
    folder = tmp_path / "deep"
    shutil.copytree(SHIPPED, folder)
    meta = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps(meta)[:-1] + ', "notes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    proc = run("aae_core.evaluate", str(folder), "--no-write", data_dir=str(tmp_path / "no_data"))
    assert_one_line_error(proc, "aae_core.evaluate", "nested too deeply")


def test_an_upload_with_a_deeply_nested_config_is_a_config_error():
    files = read_upload([(CONFIG_FILE, nested(100_000).encode()),
                         (WEIGHTS_FILE, (SHIPPED / WEIGHTS_FILE).read_bytes())])
    with pytest.raises(CheckpointConfigError, match="nested too deeply"):
        files.load("cpu")
