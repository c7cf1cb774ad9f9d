"""Closed-loop load: N operations by C concurrent clients, each timed."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Load:
    """What one or more runs of an operation measured."""

    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful operations
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Successful operations per second of wall time."""
        return (self.count - self.errors) / self.seconds if self.seconds else 0.0

    def add(self, other: Load) -> None:
        self.count += other.count
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.first_error = self.first_error or other.first_error

    def percentiles_ms(self) -> dict[str, float | None]:
        return {f"p{q}": percentile_ms(self.latencies, q) for q in (50, 95, 99)}


def percentile_ms(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values`` seconds, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 1)


async def drive(
    operation: Callable[[int], Awaitable[None]], count: int, concurrency: int, start: int = 0
) -> Load:
    """Run ``operation(i)`` for i in ``start .. start+count-1`` by ``concurrency`` clients;
    each client starts its next operation as soon as its last one answers."""
    result = Load(count=count)
    next_index = start
    stop = start + count

    async def client() -> None:
        nonlocal next_index
        while next_index < stop:
            i = next_index
            next_index += 1
            began = time.perf_counter()
            try:
                await operation(i)
            except Exception as error:  # noqa: BLE001 - counted and reported, not raised
                result.errors += 1
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
            else:
                result.latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(min(concurrency, count))))
    result.seconds = time.perf_counter() - began
    return result
