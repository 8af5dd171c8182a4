"""Helpers for lab-scpi's tests: variables from addresses, `lab scpi simulate` in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lab_core import Variable

LAB = str(Path(sys.executable).with_name("lab"))


def variables(*addresses: str, value_type: str = "float") -> list[Variable]:
    """One variable per address, codenames v0, v1, …; an address may end with ' as TYPE'."""
    made = []
    for i, text in enumerate(addresses):
        address, _, kind = text.partition(" as ")
        made.append(Variable(i, f"v{i}", address, reader="dmm", value_type=kind or value_type))
    return made


class SimProcess:
    """``lab scpi simulate`` in its own process: kill it, start it again on the same port, SIGSTOP it."""

    def __init__(self, port: int = 0):
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> SimProcess:
        self.proc = subprocess.Popen([LAB, "scpi", "simulate", "--port", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 20
        for line in self.proc.stdout:
            if line.startswith("port "):
                self.port = int(line.split()[1])
                return self
            if time.monotonic() > deadline:
                break
        raise RuntimeError("lab scpi simulate did not start")

    @property
    def resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
