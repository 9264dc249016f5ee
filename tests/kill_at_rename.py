# SPDX-License-Identifier: Apache-2.0
"""Runs `mcu-mobilenet ARGS...` and SIGKILLs it mid-write: when it is about to rename a
temporary file into place for the Nth time over a name that matches a pattern, the temporary
file is cut to half its length (a write torn by the kill) and the process kills itself, at
that exact moment.

    KILL_AT_RENAME=point.json  KILL_AT_RENAME_COUNT=2  python kill_at_rename.py sweep ...

The hook is an audit hook (`os.rename` is audited, os.replace included): nothing in the
project is changed for the test.
"""

import fnmatch
import os
import signal
import sys


def _install(pattern: str, count: int) -> None:
    seen = 0

    def hook(event: str, args: tuple) -> None:
        nonlocal seen
        if event != "os.rename" or not fnmatch.fnmatch(os.path.basename(str(args[1])), pattern):
            return
        seen += 1
        if seen == count:
            source = str(args[0])
            os.truncate(source, os.path.getsize(source) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)


if __name__ == "__main__":  # a guard: spawned children (a local cluster) import this file
    _install(os.environ["KILL_AT_RENAME"], int(os.environ.get("KILL_AT_RENAME_COUNT", "1")))
    from mcu_mobilenet.cli import main

    sys.exit(main(sys.argv[1:]))
