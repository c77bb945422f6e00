"""The tracked-run mixin: one way to report and end a run, whatever the table spells."""

from __future__ import annotations

import pytest

from taichu.backups.models import Backup, Restore
from taichu.clusters.models import ClusterImport
from taichu.db.base import CANCELLED, COMPLETED, FAILED, IN_PROGRESS, PENDING


def test_progress_moves_a_pending_run_to_in_progress_once() -> None:
    backup = Backup(status=PENDING, progress=0.0)
    backup.mark_progress(12.345, "Listing pods")
    assert (backup.status, backup.progress, backup.current_step) == (
        IN_PROGRESS,
        12.3,
        "Listing pods",
    )
    started = backup.started_at
    assert started is not None
    backup.mark_progress(150)  # clamped; the start time stays the first one
    assert backup.progress == 100.0 and backup.started_at == started


def test_first_ending_wins_and_a_cancel_says_so() -> None:
    restore = Restore(status=IN_PROGRESS)
    assert restore.end(CANCELLED)
    assert (restore.status, restore.current_step, restore.error_message) == (
        CANCELLED,
        "Cancelled",
        "cancelled",
    )
    assert restore.completed_at is not None
    assert not restore.end(FAILED, error="too late")  # the late failure hook changes nothing
    assert restore.status == CANCELLED and restore.error_message == "cancelled"


def test_an_import_keeps_its_own_spellings() -> None:
    record = ClusterImport(status=PENDING, progress=0)
    record.mark_progress(33.9, "Authenticating")
    assert record.import_status == IN_PROGRESS and record.progress == 33  # whole percents
    assert record.end(COMPLETED)
    assert record.progress == 100 and record.current_step == "Import completed successfully"
    failed = ClusterImport(status=IN_PROGRESS)
    failed.end(FAILED, error="cannot reach the API server")
    assert failed.current_step == "Import failed"
    cancelled = ClusterImport(status=PENDING)
    cancelled.end(CANCELLED)
    assert cancelled.error_message == "cancelled by request"


def test_a_run_ends_only_in_an_end_state() -> None:
    with pytest.raises(ValueError):
        Backup(status=IN_PROGRESS).end(PENDING)
