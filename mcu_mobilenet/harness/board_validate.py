"""`validate --board`: the model's outputs on a board against TFLM's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcu_mobilenet import oracle
from mcu_mobilenet.boards import Board, load_board
from mcu_mobilenet.harness.session import open_session
from mcu_mobilenet.validation import ValidationReport, compare_outputs, make_samples


def validate_on_board(
    model_path: str | Path,
    board: Board | str,
    port: str | None = None,
    backend: str = "portable",
    inputs: int = 10,
    images: list[Path] | None = None,
    seed: int = 0,
    pixel_format: str = "model",
    timeout: float | None = None,
    flash: bool = True,
) -> ValidationReport:
    """Runs seeded random inputs and `images` on the board and through TFLM; every output byte
    must match. Each entry of report.outputs also carries the board's time for that input."""
    board = board if isinstance(board, Board) else load_board(board)
    with open_session(model_path, board, port, backend, timeout, flash) as session:
        batch, names = make_samples(session.built.input, inputs, images or [], seed, pixel_format)
        outputs, times = [], []
        for sample in batch:
            reply = session.client.infer(sample.tobytes())
            outputs.append(session.output_values(reply.output))
            times.append(session.time(reply.ticks))
    reference = oracle.run_tflm(model_path, batch)
    ours = np.stack(outputs).reshape(reference.shape)
    report = ValidationReport(str(model_path), board.name, len(batch), 0)
    compare_outputs(report, names, ours, reference)
    for entry, time in zip(report.outputs, times, strict=True):
        entry["time"] = time
        entry["time_unit"] = board.time_unit
    return report
