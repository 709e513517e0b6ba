"""The worker's start-up heap is moved out of the cyclic collector's reach (worker.freeze_startup_heap)."""

from __future__ import annotations

import gc

from worker import freeze_startup_heap


def test_freezing_the_startup_heap_leaves_full_collections_only_what_came_after() -> None:
    gc.unfreeze()  # a worker started by an earlier test in this process froze its heap already
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen > before + 1000  # the modules and classes this process has imported, at least
        later = [[i] for i in range(1000)]  # objects made after the freeze are tracked as usual
        assert all(gc.is_tracked(x) for x in later)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # the test process goes on collecting everything
