"""The thermo reader: reads one value per variable from the instrument."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Annotated

from lab_core import Reader, Sample, Variable


class ThermoReader(Reader):
    """Options come from the configuration's [readers.NAME] table."""

    example_address = "channel:1"  # what `lab config sample` puts in its sample variable

    def __init__(self, gain: Annotated[float, "factor applied to every reading"] = 1.0,
                 min_interval_ms: Annotated[float, "shortest interval (ms) the instrument may be read at"] = 0.0):
        self.gain = gain
        self.min_interval_ms = min_interval_ms
        self._connected = False

    def check_address(self, variable: Variable) -> None:
        if not variable.address.startswith("channel:") or not variable.address[8:].isdigit():
            raise ValueError(f"variable {variable.codename!r}: address {variable.address!r} "
                             f"must look like 'channel:N'")

    def open(self) -> None:
        self._connected = True  # connect to the instrument here

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        now = time.time()
        samples = []
        for variable in variables:
            try:
                samples.append(Sample(variable.codename, now, self._query(variable.address, now)))
            except Exception as exc:  # one bad channel is an error sample, not a failed batch
                samples.append(Sample.failed(variable.codename, exc, now))
        return samples

    def _query(self, address: str, now: float) -> float:
        """Ask the instrument; replace with your driver's call."""
        self.check_address(Variable(0, "probe", address, "probe"))
        channel = int(address[8:])
        return self.gain * (channel + 0.5 * math.sin(now / 10.0))

    def close(self) -> None:
        self._connected = False
