"""The $name writer: appends each sample as a JSON line to a file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from lab_core import RejectedSamples, Sample, Writer


class $cls(Writer):
    """Options come from the configuration's [writers.NAME] table."""

    def __init__(self, path: Annotated[str, "file the JSON lines are appended to"] = "samples.jsonl"):
        self.path = Path(path)
        self._file = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, batch: Sequence[Sample]) -> None:
        # All or nothing: refuse values JSON cannot carry before writing anything.
        bad = [s for s in batch if isinstance(s.value, float) and not math.isfinite(s.value)]
        if bad:
            raise RejectedSamples(bad, "JSON has no NaN or infinity")
        self._file.write("".join(json.dumps(s.to_dict()) + "\n" for s in batch))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
