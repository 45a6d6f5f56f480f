"""Cost of loading a BPMN file as it grows: must be linear in its elements.

Loads a valid process of N, 2N and 4N exclusive gateways (three flows each) and prints
each step's time ratio (linear = ~2.0x, quadratic = ~4.0x), then the time to refuse the
deploy-cost attack: 12,000 gateways and 20,000 flows in one 1.8 MB file (it took 58 s
before the loader indexed flows and capped element counts).

    .venv/bin/python bench/deploy_cost.py [--gateways 150] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import BpmnValidationError  # noqa: E402
from engine.loader import load_processes  # noqa: E402
from tests.engine.bpmn_builder import gateway_fan, gateway_mesh  # noqa: E402


def best_of(repeat: int, source: bytes) -> float:
    """The fastest of `repeat` loads: the least disturbed by other work on the machine."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            load_processes(source, "bench.bpmn")
        except BpmnValidationError:
            pass
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    previous = None
    for gateways in (args.gateways, args.gateways * 2, args.gateways * 4):
        seconds = best_of(args.repeat, gateway_fan(gateways))
        ratio = f"  {seconds / previous:.2f}x the previous (linear = 2.0x)" if previous else ""
        print(f"{gateways:5d} gateways, {3 * gateways + 1:5d} flows: "
              f"{seconds * 1000:7.1f} ms{ratio}")
        previous = seconds
    attack = gateway_mesh(12_000, 20_000)
    seconds = best_of(1, attack)
    print(f"attack file ({len(attack)} bytes, 12,000 gateways, 20,000 flows) refused in "
          f"{seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
