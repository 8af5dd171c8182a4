"""The plugin test kit: subclass a contract class in your tests and get the contract checked.

::

    from lab_core.testing import ReaderContract

    class TestMyReader(ReaderContract):
        plugin_name = "myreader"                  # as published through the lab entry point

        @pytest.fixture
        def reader(self):                         # a ready instance
            return MyReader(port=...)

        @pytest.fixture
        def variables(self):                      # variables it can read
            return [Variable(1, "my_temp", "T1", reader="r")]

``WriterContract`` needs ``writer`` and, to check that data arrived,
``read_back(writer) -> list of (codename, time, value)``. ``StreamProcessorContract``
needs ``processor``, ``variable`` and ``samples``; ``JobContract`` (dahu-style jobs;
``ProcessorContract`` is its deprecated name) needs ``processor``, ``good_input`` and
``bad_input``.
"""

from .contracts import JobContract, ProcessorContract, ReaderContract, StreamProcessorContract, WriterContract
from .distributions import make_distribution

__all__ = ["JobContract", "ProcessorContract", "ReaderContract", "StreamProcessorContract", "WriterContract",
           "make_distribution"]
