"""Cost of one task completion as an instance loops, against its first pass.

Measures "restore, complete one task, dump to JSON" (what one request does) on the
shipped inbound_materials diagram while QA rejects the goods again and again. The
figure that matters is the ratio of a late pass's cost to an early pass's, measured
in the same run: flat means ~1.0x. Without compaction SpiffWorkflow's tree deepens
every pass (RecursionError near ~500 tasks).

    .venv/bin/python bench/engine_roundtrip.py [--passes 1000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.loader import load_processes  # noqa: E402
from engine.runtime import Instance  # noqa: E402

BPMN = Path(__file__).resolve().parent.parent / "bpmn" / "inbound_materials.bpmn"
STEPS = [{"result": "fail", "defects": 2}, {"return_reference": "RMA"}, {"redelivery_note": "lot"}]


def one_pass(model, state: str) -> tuple[str, float]:
    """Three requests (inspect -> return -> redelivery), each restoring from JSON."""
    started = time.perf_counter()
    for data in STEPS:
        instance = Instance.restore(model, json.loads(state))
        instance.complete(instance.ready_tasks()[0].id, data)
        state = json.dumps(instance.dump())
    return state, (time.perf_counter() - started) / len(STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=1000)
    args = parser.parse_args()
    [model] = load_processes(BPMN.read_bytes(), BPMN.name)
    instance = Instance.start(model)
    instance.complete(instance.ready_tasks()[0].id,
                      {"supplier": "S", "material": "M", "quantity": 1})
    state = json.dumps(instance.dump())
    costs = []
    for _ in range(args.passes):
        state, cost = one_pass(model, state)
        costs.append(cost)
    window = max(10, args.passes // 10)
    early = statistics.median(costs[:window])
    late = statistics.median(costs[-window:])
    print(f"passes: {args.passes} (3 completions each, restore + complete + dump per completion)")
    print(f"early passes: median {early * 1000:.2f} ms per completion")
    print(f"late passes:  median {late * 1000:.2f} ms per completion")
    print(f"late / early: {late / early:.2f}x  (flat = 1.0x)")
    print(f"state size after the last pass: {len(state)} bytes")


if __name__ == "__main__":
    main()
