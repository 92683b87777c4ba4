"""The App for real: `curate review DATASET --remote` serves it, headless Chromium renders the
dataset's name and its samples, and Ctrl-C stops it with no server process left behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from curate import review

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CURATE_TEST_ARTIFACTS", ROOT / ".artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"curate review exited early with {proc.returncode}"
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the App did not answer at {url} within {seconds}s")


def chromium(url: str, profile: Path, *flags: str) -> str:
    """Run headless Chromium with a virtual-time budget long enough for the JS grid to render."""
    out = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000", *flags, url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_app_renders_dataset_and_ctrl_c_leaves_no_server(planted, fiftyone_db, tmp_path):
    path, _ = planted
    review.send_dataset(path)
    n_samples = len(fiftyone_db.load_dataset(path.name))
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from curate.cli.main import main; main()", "review", str(path), "--remote", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/datasets/{path.name}"
        wait_for(f"http://127.0.0.1:{port}/", proc, 240)
        servers = psutil.Process(proc.pid).children(recursive=True)
        assert servers, "the App server runs as a child of curate review"

        for _ in range(3):  # the grid renders asynchronously: retry until every sample is drawn
            dom = chromium(url, tmp_path / "chrome", "--dump-dom")
            if dom.count('canvas-loaded="true"') == n_samples:
                break
        assert f">{path.name}<" in dom, "the page shows the dataset name"
        assert dom.count('canvas-loaded="true"') == n_samples, "every sample is drawn in the grid"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "review-app.png"
        shot.unlink(missing_ok=True)
        chromium(url, tmp_path / "chrome", f"--screenshot={shot}")
        assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
        gone, alive = psutil.wait_procs(servers, timeout=30)
        assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
