import json

import pytest

from lab_core.testing import WriterContract

from $package.writer import $cls


class Test$cls(WriterContract):
    plugin_name = "$name"

    @pytest.fixture
    def writer(self, tmp_path):
        return $cls(path=str(tmp_path / "out.jsonl"))

    def read_back(self, writer):
        rows = [json.loads(line) for line in writer.path.read_text().splitlines()]
        return [(r["codename"], r["time"], r["value"]) for r in rows]
