"""fleet/core/heap.py: the start-up and warm-up freezes take objects out of the GC's scans, and
thawing gives them back."""

from __future__ import annotations

import asyncio
import gc

from fleet.core.heap import freeze_after_warm_up, freeze_startup_heap, thaw_heap


def test_freeze_then_warm_up_freeze_then_thaw() -> None:
    async def main() -> tuple[int, int, int]:
        kept: list[list[int]] = []
        first = freeze_startup_heap()
        kept.extend([i] for i in range(5000))  # built by the first traffic, lives on (lists: GC-tracked)
        freeze_after_warm_up(asyncio.get_running_loop(), delay_s=0.05)
        await asyncio.sleep(0.2)
        second = gc.get_freeze_count()
        thaw_heap()
        return first, second, gc.get_freeze_count()

    try:
        first, second, after = asyncio.run(main())
    finally:
        thaw_heap()
    assert first > 0 and second >= first + 4900 and after == 0  # (a few frozen objects died meanwhile)
