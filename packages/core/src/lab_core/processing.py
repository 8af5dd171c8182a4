"""The collector's processing stage: chains of stream processors between readers and writers.

A variable's ``processors`` run first, once per sample, for every writer; then the chain
of each writer that lists ``processors`` runs on what that writer gets. Every chain holds
its own processor instances, so the state is per variable, and per writer where attached
to a writer: the live socket can get every value while MySQL gets the changes.

Cost: a sample without any chain takes the collector's plain fan-out (no call into this
module); a chained sample costs one method call per stage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from .contracts import StreamProcessor
from .errors import ConfigError
from .model import Context, Sample, Variable

log = logging.getLogger(__name__)

#: Makes a fresh processor instance (a class, or ``functools.partial(cls, **options)``).
Factory = Callable[[], StreamProcessor]


class Chain:
    """The processors of one stream, applied in order."""

    __slots__ = ("stages",)

    def __init__(self, stages: Sequence[StreamProcessor]):
        self.stages = tuple(stages)

    def push(self, sample: Sample) -> Sequence[Sample]:
        out: Sequence[Sample] = (sample,)
        for stage in self.stages:
            out = stage.process(out[0]) if len(out) == 1 else [r for item in out for r in stage.process(item)]
            if not out:
                break
        return out

    def finish(self) -> list[Sample]:
        """What the stages still hold, each stage's rest passed through the stages after it."""
        carried: list[Sample] = []
        for stage in self.stages:
            carried = [result for item in carried for result in stage.process(item)]
            carried.extend(stage.finish())
        return carried


class Processing:
    """Every chain of a collector: per variable (codename) and per (writer, codename).

    ``factories`` maps processor instance names (``[processors.NAME]``) to factories;
    ``by_writer`` maps writer names to the processor names they list.
    """

    def __init__(self, factories: Mapping[str, Factory], by_writer: Mapping[str, Sequence[str]]):
        self.factories = dict(factories)
        self.by_writer = {w: tuple(names) for w, names in by_writer.items() if names}
        for writer, names in self.by_writer.items():
            self._check_names(names, f"writer {writer!r}")
        self._variables: dict[str, Variable] = {}
        self._chains: dict[str, Chain] = {}
        self._writer_chains: dict[tuple[str, str], Chain] = {}
        self._writers: dict[str, set[str]] = {}  # codename -> writers it goes to
        self._source: dict[str, str] = {}  # codename a chain gave -> the variable it comes from
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether any sample can meet a processor (else the collector skips this stage)."""
        return bool(self.by_writer or self._chains)

    def _check_names(self, names: Iterable[str], who: str) -> None:
        unknown = [n for n in names if n not in self.factories]
        if unknown:
            known = ", ".join(sorted(self.factories)) or "none are configured"
            raise ConfigError(f"{who} lists processor {unknown[0]!r}, which no [processors.{unknown[0]}] "
                              f"table defines; processors: {known}")

    def _chain(self, names: Sequence[str], variable: Variable, who: str) -> Chain:
        stages = []
        for name in names:
            stage = self.factories[name]()
            try:
                stage.bind(variable)
            except ValueError as exc:
                raise ConfigError(f"processor {name!r} ({who}) cannot process variable "
                                  f"{variable.codename!r}: {exc}") from None
            stages.append(stage)
        return Chain(stages)

    # -- plan changes (the collector's lock held) --------------------------------------

    def add(self, context: Context, writers: Iterable[str]) -> None:
        """Make the chains ``context``'s variables need; a bad name or variable is a ConfigError."""
        writers = tuple(writers)
        made: dict[str, Chain] = {}
        made_for_writers: dict[tuple[str, str], Chain] = {}
        for variable in context.variables:
            codename = variable.codename
            known = self._variables.get(codename)
            if known is not None and known.processors != variable.processors:
                raise ConfigError(f"variable {codename!r} of context {context.id} lists processors "
                                  f"{list(variable.processors)}, but a running context reads it with "
                                  f"{list(known.processors)}; give both the same list")
            who = f"variable {codename!r} of context {context.id}"
            self._check_names(variable.processors, who)
            if variable.processors and codename not in self._chains:
                made[codename] = self._chain(variable.processors, variable, who)
            for writer in writers:
                if writer in self.by_writer and (writer, codename) not in self._writer_chains:
                    made_for_writers[writer, codename] = self._chain(
                        self.by_writer[writer], variable, f"writer {writer!r}")
        with self._lock:
            for variable in context.variables:
                self._variables.setdefault(variable.codename, variable)
                self._writers.setdefault(variable.codename, set()).update(writers)
                self._source[variable.codename] = variable.codename
            self._chains.update(made)
            self._writer_chains.update(made_for_writers)

    def remove(self, codenames: Iterable[str]) -> dict[str, list[Sample]]:
        """End the streams of ``codenames`` (no running context reads them now); return what
        their processors still held (a partial window…), per writer."""
        batches: dict[str, list[Sample]] = {}
        with self._lock:
            for codename in set(codenames):
                self._variables.pop(codename, None)
                writers = self._writers.pop(codename, ())
                chain = self._chains.pop(codename, None)
                rest = chain.finish() if chain is not None else []
                for writer in writers:
                    batch = batches.setdefault(writer, [])
                    if writer not in self.by_writer:
                        batch.extend(rest)
                        continue
                    for sample in rest:
                        batch.extend(self._writer_chain(writer, sample, codename).push(sample))
                    for key in [k for k in self._writer_chains if k[0] == writer
                                and self._source.get(k[1]) == codename]:
                        batch.extend(self._writer_chains.pop(key).finish())
        return {writer: batch for writer, batch in batches.items() if batch}

    def close(self) -> dict[str, list[Sample]]:
        """End every stream (the collector closes); what the processors held, per writer."""
        return self.remove(list(self._writers))

    # -- data (reader workers) --------------------------------------------------------------

    def route(self, samples: Sequence[Sample], writers_by_codename: Mapping[str, Iterable[str]],
              batches: dict[str, list[Sample]]) -> None:
        """Run ``samples`` through their chains into ``batches`` (writer -> samples)."""
        chains, chained_writers = self._chains, self.by_writer
        with self._lock:
            for sample in samples:
                writers = writers_by_codename.get(sample.codename)
                if not writers:
                    continue
                chain = chains.get(sample.codename)
                outs = (sample,) if chain is None else chain.push(sample)
                if not outs:
                    continue
                for writer in writers:
                    batch = batches.setdefault(writer, [])
                    if writer not in chained_writers:
                        batch.extend(outs)
                        continue
                    for out in outs:
                        batch.extend(self._writer_chain(writer, out, sample.codename).push(out))

    def _writer_chain(self, writer: str, sample: Sample, source: str) -> Chain:
        chain = self._writer_chains.get((writer, sample.codename))
        if chain is None:  # a codename a variable's chain derived (a window's ``x_max``)
            variable = self._variables.get(source) or Variable(0, source, "", "?")
            chain = self._writer_chains[writer, sample.codename] = self._chain(
                self.by_writer[writer], variable, f"writer {writer!r}")
            self._source[sample.codename] = source
        return chain
