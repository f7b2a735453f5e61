"""`make bench`: wall-clock time of the offline plan (tree, cost and verdict; no --out),
each run a fresh `python -m tools.plan` process so imports count, for prod and for a
scaled prod (10 node pools, app replicas x3). Prints min and median of several runs."""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tools import harness

TARGET_SECONDS = 4.0
SCALED_FACTOR_LIMIT = 2.0


def scaled_config(config: dict[str, Any], pools: int = 10, replicas_factor: int = 3) -> dict[str, Any]:
    """prod with `pools` node pools (copies of its general pool) and every HPA range
    multiplied: a bigger graph of the same shape."""
    scaled = copy.deepcopy(config)
    template = scaled["podium:nodePools"][0]
    extra = [{**copy.deepcopy(template), "name": f"extra{i}"} for i in range(pools - len(scaled["podium:nodePools"]))]
    scaled["podium:nodePools"] = [*scaled["podium:nodePools"], *extra]
    for tier in ("frontend", "api"):
        workload = scaled["podium:app"][tier]
        workload["minReplicas"] *= replicas_factor
        workload["maxReplicas"] *= replicas_factor
    return scaled


def time_plan(arguments: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tools.plan", *arguments], cwd=harness.ROOT, capture_output=True, check=False
        )
        timings.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"plan {' '.join(arguments)} failed:\n{done.stderr.decode()}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        scaled = Path(directory) / "Pulumi.scaled.yaml"
        scaled.write_text(yaml.safe_dump({"config": scaled_config(harness.load_stack_config("prod"))}))
        results = {
            "prod": time_plan(["prod"], args.runs),
            "prod scaled (10 pools, replicas x3)": time_plan(["prod", "--config", str(scaled)], args.runs),
        }
    print(f"offline plan, {args.runs} runs each (seconds):")
    for name, timings in results.items():
        print(f"  {name:<38} min {min(timings):.2f}  median {statistics.median(timings):.2f}")
    prod, large = (statistics.median(t) for t in results.values())
    print(f"  scaled / prod: {large / prod:.2f} (target < {SCALED_FACTOR_LIMIT}); prod target < {TARGET_SECONDS} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
