# SPDX-License-Identifier: Apache-2.0
"""`make bench`: the figures we measure ourselves against (../shared/docs/targets.md).

  python -m mcu_mobilenet.benchmarks [--quick] [-o build/bench]

1. The memory plan of person_detect.tflite against TFLM's arena (goal: arena + scratch at
   most 0.55 x TFLM's 85,264 bytes).
2. person_detect on qemu-mps2-an386 with the portable kernels: instructions per inference and
   per mult-add, flash and RAM split, TFLM's arena.
3. Every QEMU board x backend (cmsis-nn where CMSIS-NN is available) on person_detect and on a
   project MobileNet (alpha 0.25, 96x96x3): instructions per inference.
4. Writing the C sources of a 1.0 MobileNet-224 (4.2 M parameters): seconds.

Everything is printed and written to OUT/bench.json. Time is emulated instructions (QEMU),
never cycles.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from mcu_mobilenet import cmsis_nn_release
from mcu_mobilenet.boards import load_board
from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.quick import make_quantized_mobilenet
from mcu_mobilenet.oracle import tflm_arena_bytes
from mcu_mobilenet.paths import PROJECT_ROOT
from mcu_mobilenet.reports import format_bench_report
from mcu_mobilenet.sweep.prediction import plan_member
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.benchmark import bench_on_board
from mcu_mobilenet.workflow.compile import write_sources

PERSON_DETECT = PROJECT_ROOT.parent / "shared" / "models" / "person_detect.tflite"
TFLM_ARENA_GOAL_FACTOR = 0.55
QEMU_BOARDS = ("qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps3-an547", "qemu-netduinoplus2")
MOBILENET = dict(alpha=0.25, resolution=96, channels=3, classes=2)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcu_mobilenet.benchmarks")
    parser.add_argument("-o", "--output", type=Path, default=Path("build/bench"))
    parser.add_argument("--quick", action="store_true", help="only the default board")
    args = parser.parse_args(argv)
    if not PERSON_DETECT.is_file():
        print(
            f"bench: {PERSON_DETECT} not found (../shared/models beside the project)",
            file=sys.stderr,
        )
        return 2
    results: dict = {}
    sections = [
        _memory_plan(results),
        _default_board(results),
        _boards_and_backends(results, (QEMU_BOARDS[0],) if args.quick else QEMU_BOARDS),
        _code_generation_speed(results),
    ]
    print("\n\n".join(sections))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {args.output / 'bench.json'}")
    return 0


def _memory_plan(results: dict) -> str:

    log("memory plan of person_detect")
    compilation = analyze(PERSON_DETECT)
    tflm = tflm_arena_bytes(PERSON_DETECT)
    ours = compilation.plan.arena_bytes + compilation.scratch_bytes
    results["memory_plan"] = {
        "arena_bytes": compilation.plan.arena_bytes,
        "scratch_bytes": compilation.scratch_bytes,
        "liveness_bound_bytes": compilation.plan.liveness_bound,
        "tflm_arena_bytes": tflm,
        "ratio": round(ours / tflm, 3) if tflm else None,
        "goal_met": bool(tflm and ours <= TFLM_ARENA_GOAL_FACTOR * tflm),
    }
    plan = results["memory_plan"]
    return "\n".join(
        [
            "1. Memory plan, person_detect.tflite (portable backend)",
            f"   arena + scratch  {ours:>8,} B  = {plan['ratio']} x TFLM's arena "
            f"({'meets' if plan['goal_met'] else 'MISSES'} the {TFLM_ARENA_GOAL_FACTOR} x goal)",
            f"   TFLM arena       {tflm:>8,} B  (print_allocations(), reference kernels)",
            f"   liveness bound   {compilation.plan.liveness_bound:>8,} B  (the best any plan "
            "without in-place overlaps can do)",
        ]
    )


def _default_board(results: dict) -> str:

    log("person_detect on qemu-mps2-an386, portable")
    report = bench_on_board(PERSON_DETECT, load_board(QEMU_BOARDS[0]), "portable")
    results["person_detect_an386_portable"] = report
    return "2. " + format_bench_report(report)


def _boards_and_backends(results: dict, boards: tuple[str, ...]) -> str:

    backends = ["portable"] + (["cmsis-nn"] if cmsis_nn_release.locate() else [])
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        log("training the project MobileNet for the board comparison")
        mobilenet = make_quantized_mobilenet(Path(tmp) / "mobilenet_0.25_96.tflite", **MOBILENET)
        rows, records = [], []
        for board_name in boards:
            board = load_board(board_name)
            for model, label in (
                (PERSON_DETECT, "person_detect"),
                (mobilenet, "MobileNet 0.25 96x96x3"),
            ):
                for backend in backends:
                    log(f"{label} on {board_name}, {backend}")
                    report = bench_on_board(model, board, backend, runs=3, tflm=False)
                    records.append(report | {"model": label})
                    rows.append(
                        [
                            board_name,
                            label,
                            backend,
                            report["time_per_inference"],
                            report["time_per_mac"],
                            report["ram_bytes"],
                            report["flash_bytes"],
                        ]
                    )
    results["boards"] = records
    note = (
        ""
        if len(backends) > 1
        else (f"\n   (cmsis-nn not measured: CMSIS-NN not found; {cmsis_nn_release.HOW_TO_GET})")
    )
    table = format_table(
        ["board", "model", "backend", "instructions", "per MAC", "RAM B", "flash B"],
        rows,
        right={3, 4, 5, 6},
    )
    return (
        "3. Instructions per inference (median of 3; emulated instructions, not cycles)\n"
        + table
        + note
    )


def _code_generation_speed(results: dict) -> str:

    log("writing the C sources of a 1.0 MobileNet-224")
    member = plan_member(MobileNetConfig(alpha=1.0, resolution=224))
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        start = time.perf_counter()
        write_sources(member, Path(tmp) / "mobilenet")
        seconds = time.perf_counter() - start
    results["codegen_mobilenet_1_0_224"] = {
        "seconds": round(seconds, 2),
        "weights_bytes": member.weights_bytes,
    }
    return (
        f"4. Writing the C sources of a 1.0 MobileNet-224 ({member.weights_bytes:,} bytes "
        f"of constants): {seconds:.1f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
