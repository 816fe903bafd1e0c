"""CPU time spent by the processes of a benchmark, so a change shows as milliseconds of
CPU per e-mail saved rather than as a rate that moves with whatever else the machine
does. Read with psutil from each process and its children (a Celery worker's pool
processes, PostgreSQL's backends), before and after the measured part."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil


def _tree_seconds(pid: int) -> dict[int, float]:
    """user + system seconds of `pid` and every live descendant, by pid."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


@dataclass
class CpuMeter:
    """CPU seconds per named group of processes between `start` and `stop`. A group is
    found by a function returning pids (each with its descendants), asked at both ends,
    so processes that appear during the run (a database backend a worker opened) count
    from zero."""

    groups: dict[str, Callable[[], Iterable[int]]] = field(default_factory=dict)
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)

    def _read(self, name: str) -> dict[int, float]:
        found: dict[int, float] = {}
        for pid in self.groups[name]():
            found.update(_tree_seconds(pid))
        return found

    def start(self) -> None:
        self._before = {name: self._read(name) for name in self.groups}

    def stop(self) -> dict[str, float]:
        for name in self.groups:
            before = self._before.get(name, {})
            after = self._read(name)
            self.spent[name] = sum(max(0.0, seconds - before.get(pid, 0.0))
                                   for pid, seconds in after.items())
        return self.spent

    def add(self, name: str, seconds: float) -> None:
        """CPU measured another way (the bench's own process, with process_time)."""
        self.spent[name] = self.spent.get(name, 0.0) + seconds
