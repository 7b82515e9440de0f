"""The checkpoint files: the journal of pages between durable segments, and when a manifest is trusted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.load.checkpoints import (
    Checkpoint,
    Journal,
    find_checkpoint,
    journal_number,
    read_journal,
    save_checkpoint,
)

NOW = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)
PAGES = [[{"id": f"run_{p}_{n}", "n": n} for n in range(3)] for p in range(4)]


def checkpoint(journal: tuple[str, int] | None) -> Checkpoint:
    return Checkpoint(
        endpoint="runs",
        day=date(2026, 5, 10),
        source="http://127.0.0.1:1",
        started_at=NOW - timedelta(minutes=5),
        saved_at=NOW,
        cursors={},
        figures={},
        pages=2,
        journal=journal,
    )


def journal_of(folder: Path, pages: list[list[dict]]) -> tuple[str, int]:
    """A journal holding `pages`, handed to the OS; its (file, bytes)."""
    journal = Journal(folder, 0)
    for page in pages:
        journal.append(page)
    saved = journal.flush()
    journal.close()
    return saved


def trusted(folder: Path) -> Checkpoint | None:
    return find_checkpoint(
        folder, source="http://127.0.0.1:1", now=NOW, max_age=timedelta(hours=12), committed_at=None
    )


def test_a_journal_gives_back_the_pages_up_to_the_length_its_manifest_names(tmp_path: Path) -> None:
    journal = Journal(tmp_path, 3)
    for page in PAGES[:2]:
        journal.append(page)
    saved = journal.flush()
    for page in PAGES[2:]:  # appended after the manifest was written: not part of the checkpoint
        journal.append(page)
    journal.flush()
    journal.close()
    assert list(read_journal(tmp_path, saved)) == PAGES[:2]
    assert journal_number(saved[0]) == 3


def test_a_journal_never_synced_leaves_no_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "day", 0)
    journal.append(PAGES[0])
    journal.close()
    assert not (tmp_path / "day").exists()


def test_a_checkpoint_whose_journal_is_truncated_is_discarded(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "2026-05-10"
    name, size = journal_of(folder, PAGES)
    save_checkpoint(folder, checkpoint((name, size)))
    found = trusted(folder)
    assert found is not None and found.journal == (name, size)
    with open(folder / name, "r+b") as file:
        file.truncate(size - 1)
    assert trusted(folder) is None
    assert not folder.exists(), "a checkpoint that is not trusted is removed"


def test_a_checkpoint_whose_journal_does_not_read_back_is_discarded(tmp_path: Path) -> None:
    """After a crash of the machine an unsynced journal may hold zeros where its pages were."""
    folder = tmp_path / "runs" / "2026-05-10"
    name, size = journal_of(folder, PAGES)
    save_checkpoint(folder, checkpoint((name, size)), fsync=False)
    assert trusted(folder) is not None
    (folder / name).write_bytes(b"\0" * size)
    save_checkpoint(folder, checkpoint((name, size)), fsync=False)
    assert trusted(folder) is None
