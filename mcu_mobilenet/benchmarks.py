# SPDX-License-Identifier: Apache-2.0
"""`make bench`: the figures we measure ourselves against (../shared/docs/targets.md).

  python -m mcu_mobilenet.benchmarks [--quick] [-o build/bench]

1. The memory plan of person_detect.tflite for every backend against TFLM's arena.
2. The backends side by side, in one run, on the M4 (qemu-mps2-an386) and the M55
   (qemu-mps3-an547): person_detect and trained MobileNets alpha 0.25 and 0.5 (96x96x3);
   instructions per inference and per mult-add, RAM (arena, scratch, stack used, ELF total)
   and flash (ELF total, inference code), checked against the native backend's targets.
3. Instructions per mult-add of every person_detect layer, the backends side by side.
4. Every QEMU board x backend on person_detect and the alpha 0.25 MobileNet.
5. Writing the C sources of a 1.0 MobileNet-224 (4.2 M parameters): seconds.

cmsis-nn is measured where CMSIS-NN is found (CMSIS_NN_PATH, or the pinned release). Everything
is printed and written to OUT/bench.json. Time is emulated instructions (QEMU), never cycles.
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
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.compiler.target import board_target
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.quick import make_quantized_mobilenet
from mcu_mobilenet.oracle import tflm_arena_bytes
from mcu_mobilenet.paths import PROJECT_ROOT
from mcu_mobilenet.reports import format_bench_report
from mcu_mobilenet.sweep.prediction import plan_member
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.benchmark import bench_on_board, profile_on_board
from mcu_mobilenet.workflow.compile import write_sources

PERSON_DETECT = PROJECT_ROOT.parent / "shared" / "models" / "person_detect.tflite"
QEMU_BOARDS = ("qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps3-an547", "qemu-netduinoplus2")
M4_BOARD, M55_BOARD = "qemu-mps2-an386", "qemu-mps3-an547"
MOBILENETS = {  # trained on the synthetic data set, then quantized as `quantize` does
    "MobileNet 0.25 96x96x3": dict(alpha=0.25, resolution=96, channels=3, classes=2, steps=200),
    "MobileNet 0.5 96x96x3": dict(alpha=0.5, resolution=96, channels=3, classes=2, steps=200),
}

# The native backend's targets (issue 10), person_detect.
TFLM_ARENA_GOAL_FACTOR = 0.55
NATIVE_M4_INSTRUCTIONS_GOAL = 13_757_000  # 0.6 x TFLM + CMSIS-NN's 22,928,854
NATIVE_M55_INSTRUCTIONS_GOAL = 5_200_000  # 0.8 x our cmsis-nn backend's 6,497,656
NATIVE_ARENA_AND_SCRATCH_GOAL = 38_300  # 0.45 x TFLM's 85,264
INFERENCE_CODE_GOAL = 16 * 1024
TOTAL_RAM_SLACK_OVER_PORTABLE = 2 * 1024


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
    backends = [registry.PORTABLE, registry.NATIVE]
    if cmsis_nn_release.locate():
        backends.append(registry.CMSIS_NN)
    else:
        log(f"cmsis-nn not measured: CMSIS-NN not found; {cmsis_nn_release.HOW_TO_GET}")
    results: dict = {"backends": backends}
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        models = {"person_detect": PERSON_DETECT}
        for label, settings in MOBILENETS.items():
            log(f"training the {label}")
            path = Path(tmp) / (label.replace(" ", "_") + ".tflite")
            models[label] = make_quantized_mobilenet(path, **settings)
        boards = (M4_BOARD,) if args.quick else QEMU_BOARDS
        side_by_side_boards = (M4_BOARD,) if args.quick else (M4_BOARD, M55_BOARD)
        sections = [
            _memory_plan(results, backends),
            _backends_side_by_side(results, backends, models, side_by_side_boards),
            _layers_side_by_side(results, backends),
            _boards_and_backends(results, backends, models, boards),
            _code_generation_speed(results),
        ]
    print("\n\n".join(sections))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {args.output / 'bench.json'}")
    return 0


def _meets(value: int, goal: int) -> str:
    return f"{'meets' if value <= goal else 'MISSES'} <= {goal:,}"


def _memory_plan(results: dict, backends: list[str]) -> str:
    log("memory plan of person_detect")
    tflm = tflm_arena_bytes(PERSON_DETECT)
    target = board_target(load_board(M4_BOARD))
    rows, plans = [], {}
    for backend in backends:
        compilation = analyze(PERSON_DETECT, backend, target)
        ours = compilation.plan.arena_bytes + compilation.scratch_bytes
        plans[backend] = {
            "arena_bytes": compilation.plan.arena_bytes,
            "scratch_bytes": compilation.scratch_bytes,
            "liveness_bound_bytes": compilation.plan.liveness_bound,
            "ratio_to_tflm": round(ours / tflm, 3) if tflm else None,
        }
        rows.append(
            [
                backend,
                compilation.plan.arena_bytes,
                compilation.scratch_bytes,
                ours,
                f"{ours / tflm:.3f}" if tflm else "",
                compilation.plan.liveness_bound,
            ]
        )
    results["memory_plan"] = {"tflm_arena_bytes": tflm, "backends": plans}
    table = format_table(
        ["backend", "arena B", "scratch B", "together B", "x TFLM", "liveness bound B"],
        rows,
        right={1, 2, 3, 4, 5},
    )
    native = plans[registry.NATIVE]
    native_total = native["arena_bytes"] + native["scratch_bytes"]
    return "\n".join(
        [
            f"1. Memory plan, person_detect.tflite, for {M4_BOARD}'s CPU "
            f"(TFLM's arena: {tflm:,} B, print_allocations(), reference kernels)",
            table,
            f"   native arena + scratch: {_meets(native_total, NATIVE_ARENA_AND_SCRATCH_GOAL)}; "
            f"the {TFLM_ARENA_GOAL_FACTOR} x TFLM goal is {int(TFLM_ARENA_GOAL_FACTOR * tflm):,}",
            "   (liveness bound: the best a plan without in-place overlaps can do)",
        ]
    )


def _backends_side_by_side(
    results: dict, backends: list[str], models: dict[str, Path], boards: tuple[str, ...]
) -> str:
    rows, records = [], []
    for board_name in boards:
        board = load_board(board_name)
        for label, model in models.items():
            reports = {}
            for backend in backends:
                log(f"{label} on {board_name}, {backend}")
                report = bench_on_board(model, board, backend, runs=3, tflm=False)
                reports[backend] = report | {"model": label}
            records += reports.values()
            reference = reports.get(registry.CMSIS_NN, {}).get("time_per_inference")
            for backend, report in reports.items():
                memory = report["memory"]
                rows.append(
                    [
                        board_name,
                        label,
                        backend,
                        report["time_per_inference"],
                        report["time_per_mac"],
                        f"{report['time_per_inference'] / reference:.2f}" if reference else "",
                        memory["ram_arena"],
                        report["scratch_bytes"],
                        report["stack_bytes_used"],
                        memory["ram_total"],
                        memory["flash_total"],
                        memory["flash_inference_code"],
                    ]
                )
    results["backends_side_by_side"] = records
    table = format_table(
        [
            "board",
            "model",
            "backend",
            "instructions",
            "per MAC",
            "x cmsis-nn",
            "arena B",
            "scratch B",
            "stack used B",
            "RAM B",
            "flash B",
            "code B",
        ],
        rows,
        right=set(range(3, 12)),
    )
    return (
        "2. The backends side by side (median of 3 runs; emulated instructions, not cycles;\n"
        "   arena includes scratch; RAM and flash read from the ELF; code = kernels and model\n"
        "   code in flash, no weights, no harness)\n"
        + table
        + "\n"
        + _native_targets(records)
        + "\n\n"
        + format_bench_report(_find(records, "person_detect", M4_BOARD, registry.NATIVE))
    )


def _find(records: list[dict], model: str, board: str, backend: str) -> dict:
    return next(
        r for r in records if (r["model"], r["board"], r["backend"]) == (model, board, backend)
    )


def _native_targets(records: list[dict]) -> str:
    native = _find(records, "person_detect", M4_BOARD, registry.NATIVE)
    portable = _find(records, "person_detect", M4_BOARD, registry.PORTABLE)
    lines = [
        "   native targets, person_detect:",
        f"   - {M4_BOARD}: {native['time_per_inference']:,} instructions, "
        f"{_meets(native['time_per_inference'], NATIVE_M4_INSTRUCTIONS_GOAL)}",
    ]
    m55 = [r for r in records if r["board"] == M55_BOARD and r["model"] == "person_detect"]
    if m55:
        on_m55 = _find(m55, "person_detect", M55_BOARD, registry.NATIVE)
        lines.append(
            f"   - {M55_BOARD}: {on_m55['time_per_inference']:,} instructions, "
            f"{_meets(on_m55['time_per_inference'], NATIVE_M55_INSTRUCTIONS_GOAL)}"
        )
    ram_goal = portable["memory"]["ram_total"] + TOTAL_RAM_SLACK_OVER_PORTABLE
    lines += [
        f"   - inference code in flash: {native['memory']['flash_inference_code']:,} B, "
        f"{_meets(native['memory']['flash_inference_code'], INFERENCE_CODE_GOAL)}",
        f"   - RAM from the ELF: {native['memory']['ram_total']:,} B, "
        f"{_meets(native['memory']['ram_total'], ram_goal)} (portable's + 2 KB)",
    ]
    return "\n".join(lines)


def _layers_side_by_side(results: dict, backends: list[str]) -> str:
    board = load_board(M4_BOARD)
    reports = {}
    for backend in backends:
        log(f"person_detect per layer on {M4_BOARD}, {backend}")
        reports[backend] = profile_on_board(PERSON_DETECT, board, backend)
    results["person_detect_layers"] = reports
    first = reports[backends[0]]["layers"]
    rows = []
    for index, layer in enumerate(first):
        row = [index, layer["op"], layer["macs"]]
        for backend in backends:
            per_mac = reports[backend]["layers"][index]["time_per_mac"]
            row.append("" if per_mac is None else f"{per_mac:.2f}")
        row.append(reports[registry.NATIVE]["layers"][index]["kernel"])
        rows.append(row)
    totals = ["", "total", sum(layer["macs"] for layer in first)]
    for backend in backends:
        totals.append(f"{reports[backend]['time_per_inference'] / totals[2]:.2f}")
    rows.append(totals + [""])
    table = format_table(
        ["#", "op", "mult-adds", *(f"{b} /MAC" for b in backends), "native kernel"],
        rows,
        right=set(range(0, 3 + len(backends))) - {1},
    )
    return (
        f"3. Instructions per mult-add of each person_detect layer on {M4_BOARD} "
        "(one random input; the M4's floor is 0.5: SMLAD does two)\n" + table
    )


def _boards_and_backends(
    results: dict, backends: list[str], models: dict[str, Path], boards: tuple[str, ...]
) -> str:
    chosen = {label: models[label] for label in ("person_detect", "MobileNet 0.25 96x96x3")}
    measured = {(r["board"], r["model"], r["backend"]): r for r in results["backends_side_by_side"]}
    rows, records = [], []
    for board_name in boards:
        board = load_board(board_name)
        for label, model in chosen.items():
            for backend in backends:
                report = measured.get((board_name, label, backend))
                if report is None:  # not in section 2
                    log(f"{label} on {board_name}, {backend}")
                    report = bench_on_board(model, board, backend, runs=3, tflm=False)
                    report |= {"model": label}
                records.append(report)
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
    table = format_table(
        ["board", "model", "backend", "instructions", "per MAC", "RAM B", "flash B"],
        rows,
        right={3, 4, 5, 6},
    )
    return "4. Every board and backend (median of 3; emulated instructions, not cycles)\n" + table


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
        f"5. Writing the C sources of a 1.0 MobileNet-224 ({member.weights_bytes:,} bytes "
        f"of constants): {seconds:.1f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
