"""Shared by the benchmark scripts: machine description, writing results as JSON, and the app in a fresh
server process (127.0.0.1, a free port) opened in the system Chromium."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from aae_core.fsutil import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"      # the page's script has finished


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json with the date and the machine, atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n", mode=0o644)
    print(f"wrote {path}")
    return path


def timeit(fn, *, repeat: int = 5, warmup: int = 1, sync: bool = False) -> float:
    """Median seconds of fn() over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict[str, str], log: Path, root: Path = REPO) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` of the checkout `root` on a free port of 127.0.0.1, its output in `log`; returns
    the process and its URL once it answers its health check (RuntimeError with the log's tail if it exits or
    does not answer within 90 s)."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
           "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "w") as out:                     # the server writes to its own copy of the file
        proc = subprocess.Popen(cmd, cwd=root, env={**env, "PYTHONPATH": str(root)}, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextmanager
def running_app(env: dict[str, str], log: Path, root: Path = REPO) -> Iterator[str]:
    """The app served while the block runs; yields its URL and stops it at the end."""
    proc, url = start_app(env, log, root)
    try:
        yield url
    finally:
        stop_app(proc)


def launch_chromium(playwright, executable: str = CHROMIUM):
    """The system Chromium, headless, driven by Playwright's sync or async API (then await the result)."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
