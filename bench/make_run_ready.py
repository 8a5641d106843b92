"""Time from `make run` on a fresh clone to the first 200 on /readyz.

Clones this repository (its committed HEAD) into a temporary folder, starts
`make run` there on a free port, polls /readyz every 50 ms, and stops the node.
Repeats --runs times and prints each time and the median. The clone has no .venv,
so every run includes creating it and installing the node and the SDK (pip's cache
is used, as on any machine that installed Python packages before).

    python bench/make_run_ready.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def one_run(timeout: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "lumbung"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
        started = time.perf_counter()
        node = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while not ready(port):
                if node.poll() is not None:
                    raise RuntimeError(f"make run exited with {node.returncode}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError("not ready in time")
                time.sleep(0.05)
            return time.perf_counter() - started
        finally:
            os.killpg(node.pid, signal.SIGTERM)
            node.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    times = [one_run(args.timeout) for _ in range(args.runs)]
    for n, seconds in enumerate(times, 1):
        print(f"run {n}: {seconds:.1f} s")
    result = {
        "figure": "make run on a fresh clone → first 200 on /readyz",
        "runs_s": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "make_run_ready.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
