"""pyproject.toml: `pip install .` gives the library, the app's package, real dependencies and the commands."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements(name: str) -> list[str]:
    return [line.strip() for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("src")
    # build from a copy of the sources so that the checkout gets no build/ or egg-info folders
    subprocess.run([sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], "
                    "dirs_exist_ok=True, ignore=shutil.ignore_patterns('checkpoints', 'runs', 'data', '.git', "
                    "'node_modules', '__pycache__', 'build', '*.egg-info'))", str(ROOT), str(build)], check=True)
    for keep in ("explorer",):   # the app's committed front-end builds travel as package data
        for built in (ROOT / keep).rglob("build"):
            if built.is_dir() and "node_modules" not in built.parts:
                subprocess.run([sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2],"
                                " dirs_exist_ok=True)", str(built), str(build / built.relative_to(ROOT))], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(build)], check=True, capture_output=True)
    (path,) = out.glob("aae_explorer-*.whl")
    return zipfile.ZipFile(path)


def _dist_file(wheel: zipfile.ZipFile, name: str) -> str:
    (member,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(member).decode()


def test_the_wheel_declares_requirements_txt_as_its_dependencies_and_the_test_tools_as_an_extra(wheel):
    meta = _dist_file(wheel, "METADATA")
    required = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist: ")]
    assert [r for r in required if "extra ==" not in r] == _requirements("requirements.txt")
    assert [r.split(";")[0] for r in required if 'extra == "test"' in r] == _requirements("requirements-test.txt")


def test_the_wheel_holds_both_packages_and_every_command_runs(wheel):
    names = wheel.namelist()
    assert "aae_core/families/base.py" in names and "explorer/pages/latent_map.py" in names
    scripts = configparser.ConfigParser()
    scripts.read_string(_dist_file(wheel, "entry_points.txt"))
    commands = dict(scripts["console_scripts"])
    assert {"aae-train", "aae-evaluate", "aae-export"} <= set(commands)
    for command, target in commands.items():
        module, func = target.split(":")
        main = getattr(importlib.import_module(module), func)
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        assert exc.value.code == 0, command
