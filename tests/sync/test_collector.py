"""relaxed_collection: fewer gen-0 collections during a sync, everything restored after the last one."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipelines.sync.collector import SYNC_GEN0_THRESHOLD, relaxed_collection


def test_the_threshold_is_raised_and_older_objects_frozen_only_inside() -> None:
    before = gc.get_threshold()
    with relaxed_collection():
        assert gc.get_threshold()[0] == max(SYNC_GEN0_THRESHOLD, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_overlapping_blocks_restore_once_the_outermost_ends() -> None:
    before = gc.get_threshold()
    outer = relaxed_collection()
    outer.__enter__()
    with relaxed_collection():
        pass
    assert gc.get_threshold() != before  # the first sync is still running
    outer.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_error_inside_still_restores() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), relaxed_collection():
        raise RuntimeError("sync failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_cycle_frozen_during_a_sync_is_collected_after_it() -> None:
    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    alive = weakref.ref(node)
    with relaxed_collection():
        del node
        gc.collect()
        assert alive() is not None  # frozen: out of the collector's sight while the sync runs
    gc.collect()
    assert alive() is None
