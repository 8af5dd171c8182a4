"""The exit statuses of every ``lab`` command, so scripts and systemd can tell what happened.

Sub-commands of every distribution use these; their meaning is documented in
``docs/lab-admins.md`` ("Exit statuses").
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    #: A check or a read failed: ``lab doctor`` found an error, ``lab run --once`` had a failed variable.
    FAILED = 1
    #: The configuration or the command line is wrong (argparse uses 2 for usage errors too).
    CONFIG = 2
    #: ``lab run`` lost samples: dropped by a full spool, set aside, or left in a memory spool at stop.
    LOST = 3
    #: Stopped by Ctrl-C before the command could finish (the shell's 128 + SIGINT).
    INTERRUPTED = 130
