"""The store's side of recording: append at a position, or answer with what it holds there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from closeloop.store import RequestStore, StoreBehind
from domain.aggregate import ConflictingCommand
from domain.ladder import Tier
from domain.state import ACCEPTED, Change, Intake, RecordedChange, RequestState

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _filed(rid: str, at: datetime = T0) -> Change:
    intake = Intake(rid, "g", "c", "t", "noise", "drums", "app", "张", "1", Tier.D1)
    return RequestState.decide_file(intake, at, "resident", 3600)


def test_a_free_position_is_appended_and_a_held_one_answered(store: RequestStore) -> None:
    rid = str(uuid.uuid4())
    filed = _filed(rid)
    assert store.settle(uuid.UUID(rid), 0, "filed", filed) == [RecordedChange("filed", filed)]
    accept = Change(ACCEPTED, T0 + timedelta(minutes=1), "worker1", {})
    assert store.settle(uuid.UUID(rid), 1, "update:a", accept) == [
        RecordedChange("update:a", accept)
    ]
    # the same task again, deciding later: the store answers with its first versions
    later = _filed(rid, T0 + timedelta(seconds=20))
    assert store.settle(uuid.UUID(rid), 0, "filed", later) == [
        RecordedChange("filed", filed),
        RecordedChange("update:a", accept),
    ]
    # another change where the store holds one: nothing appended, the holder returned
    other = Change(ACCEPTED, T0 + timedelta(minutes=2), "worker2", {})
    assert store.settle(uuid.UUID(rid), 1, "update:b", other) == [
        RecordedChange("update:a", accept)
    ]
    assert len(list(store.events.get(uuid.UUID(rid)))) == 2


def test_a_repeated_command_id_with_other_content_is_refused(store: RequestStore) -> None:
    rid = str(uuid.uuid4())
    filed = _filed(rid)
    assert store.record(uuid.UUID(rid), "c0", filed)
    accept = Change(ACCEPTED, T0 + timedelta(minutes=1), "worker1", {})
    assert store.record(uuid.UUID(rid), "c1", accept)
    assert not store.record(uuid.UUID(rid), "c1", accept)  # the same again: a no-op
    with pytest.raises(ConflictingCommand, match="c1"):
        store.record(uuid.UUID(rid), "c1", Change(ACCEPTED, T0, "worker1", {}))
    # settling a new change under an id the store already used elsewhere is refused too
    progress = Change("ProgressNoted", T0 + timedelta(minutes=3), "worker1", {"note": "n"})
    with pytest.raises(ConflictingCommand):
        store.settle(uuid.UUID(rid), 2, "c1", progress)
    assert len(list(store.events.get(uuid.UUID(rid)))) == 2


def test_a_workflow_ahead_of_the_store_is_a_defect(store: RequestStore) -> None:
    rid = str(uuid.uuid4())
    store.settle(uuid.UUID(rid), 0, "filed", _filed(rid))
    accept = Change(ACCEPTED, T0, "worker1", {})
    with pytest.raises(StoreBehind):
        store.settle(uuid.UUID(rid), 2, "update:x", accept)
    with pytest.raises(StoreBehind):
        store.settle(uuid.uuid4(), 1, "update:y", accept)
