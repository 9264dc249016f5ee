# SPDX-License-Identifier: Apache-2.0
"""The one exception type for user mistakes: the CLI prints it on one line, never a traceback."""


class UserError(Exception):
    """A problem the user can fix. The message says what is wrong, where, and what to do."""
