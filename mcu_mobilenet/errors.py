# SPDX-License-Identifier: Apache-2.0
"""What the CLI tells the user when something fails.

`UserError` is the one exception type for everything a user can cause or fix: its message says
what is wrong, where (file, layer index, op) and what to do, on one line, and the CLI prints it
without a traceback (exit code 2). Any other exception is a bug of mcu-mobilenet: the CLI says
so on one line, keeps the traceback in a file and says where to report it (exit code 70).
"""

from __future__ import annotations

import tempfile
import traceback

BUG_REPORTS = "the mcu-mobilenet repository's issue tracker"
INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE


class UserError(Exception):
    """A problem the user can fix. The message says what is wrong, where, and what to do."""


def describe_internal_error(command: str, error: BaseException, version: str) -> str:
    """One line for an unexpected exception; its traceback is saved to a file it names."""
    report = f"mcu-mobilenet {version}, command {command}\n" + "".join(
        traceback.format_exception(error)
    )
    try:
        handle, path = tempfile.mkstemp(prefix="mcu-mobilenet-crash-", suffix=".txt", text=True)
        with open(handle, "w") as file:
            file.write(report)
        where = f"the traceback saved in {path}"
    except OSError as save_error:  # a full disk, say: the bug still gets its one line
        where = f"the traceback (it could not be saved: {save_error.strerror})"
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return (
        f"mcu-mobilenet {command}: internal error ({type(error).__name__}: {first_line}); this "
        f"is a bug of mcu-mobilenet {version}, not a mistake of yours: please report it on "
        f"{BUG_REPORTS} with the command and {where}"
    )
