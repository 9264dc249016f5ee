# SPDX-License-Identifier: Apache-2.0
"""The ahead-of-time compiler: .tflite -> IR -> lowered layers -> memory plan.

tflite_reader.py reads a model into the IR (ir.py), lowering.py turns every op into one kernel
call with its constants (fixed_point.py computes them as TFLM does), backends/ retargets layers
to a kernel library, planner.py places every activation in one arena, and compilation.py runs
those steps. The C sources are written by codegen/, called from workflow/compile.py.
"""
