"""Duplicates (合并) in the read models: both sides of each merge read as the workflows
see them; the figures count a merged request as merged only (its resident's reviews
count); its stint counts for nothing at its post; the kept counts equal a recount from
the rows, and a rebuild gives the live rows."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from domain.periods import parse_period
from projections import performance as perf
from projections.figures import refill
from projections.queries import get_request, stats
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.stats import _count_rows, _present
from projections.tables import figures, posts
from tests.projections.conftest import T0, RequestLog, as_read, dump

H = timedelta(hours=1)


@pytest.fixture
def merged(log: RequestLog, database_url: str) -> dict[str, str]:
    """In grid g1: ``primary`` takes in ``dup`` (accepted first) and ``out`` (taken out
    again, then resolved on its own); ``primary`` is resolved, ``dup`` follows; both are
    reviewed satisfied; ``reopened`` follows a second primary and its resident's review
    reopens it at its own post."""
    primary = log.file(T0 + H, phone="13800000001")
    dup = log.file(T0 + 2 * H, phone="13800000002")
    out = log.file(T0 + 2 * H, phone="13800000003")
    log.accept(dup, T0 + 3 * H)
    log.merge(dup, primary, T0 + 4 * H)
    log.merge(out, primary, T0 + 4 * H)
    log.unmerge(out, T0 + 5 * H)
    log.accept(primary, T0 + 6 * H)
    log.resolve(primary, T0 + 7 * H)
    log.follow(dup, T0 + 7 * H)
    log.review(primary, T0 + 8 * H, "yes yes yes yes")
    log.review(dup, T0 + 9 * H, "yes yes yes yes")
    log.accept(out, T0 + 10 * H)
    log.resolve(out, T0 + 11 * H)

    second = log.file(T0 + 12 * H, phone="13800000004")
    reopened = log.file(T0 + 12 * H, phone="13800000005")
    log.merge(reopened, second, T0 + 13 * H)
    log.accept(second, T0 + 14 * H)
    log.resolve(second, T0 + 15 * H)
    log.follow(reopened, T0 + 15 * H)
    log.review(reopened, T0 + 16 * H, "no no no no", comment="still leaking")
    projector = Projector(database_url, store=log.store, batch_size=3)  # lives span batches
    while projector.run_batch():
        pass
    projector.close()
    return {"primary": primary, "dup": dup, "out": out, "second": second, "reopened": reopened}


def test_each_side_reads_as_its_workflow_sees_it(
    merged: dict[str, str], log: RequestLog, engine: Engine
) -> None:
    for request_id in merged.values():
        assert get_request(engine, request_id) == as_read(log.states[request_id]), request_id
    primary = get_request(engine, merged["primary"])
    dup = get_request(engine, merged["dup"])
    assert primary is not None and dup is not None
    assert primary["duplicates"] == [merged["dup"]]
    assert (dup["status"], dup["merged_into"]) == ("closed", merged["primary"])
    reopened = get_request(engine, merged["reopened"])
    assert reopened is not None
    assert (reopened["status"], reopened["merged_into"]) == ("assigned", None)


def test_the_figures_count_the_work_once_and_each_residents_review(
    merged: dict[str, str], engine: Engine
) -> None:
    figures_now = stats(engine)
    # primary, out, second and reopened (its own work again); dup is merged
    assert (figures_now["received"], figures_now["merged"]) == (4, 1)
    assert figures_now["closed"] == 1  # primary (dup closed too, but as merged only)
    assert (figures_now["reviews_reached"], figures_now["satisfied"]) == (3, 2)
    with engine.connect() as conn:
        kept = sorted(tuple(r) for r in conn.execute(select(figures)))
        assert _present(_count_rows(conn, None, None, None))["merged"] == 1
        assert _present(_count_rows(conn, "g1", None, None))["received"] == 4
    with engine.begin() as conn:
        refill(conn)
    with engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(select(figures))) == kept


def test_a_merged_stint_counts_for_nothing_at_its_post(
    merged: dict[str, str], engine: Engine
) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                posts.c.request_id, posts.c.seq, posts.c.ended, posts.c.handler, posts.c.followed
            )
        ).all()
    ended = {(r.request_id, r.seq): r.ended for r in rows}
    followed = {(r.request_id, r.seq): (r.handler, r.ended) for r in rows if r.followed}
    # the duplicates' residents' reviews count at the post that resolved their primary
    assert followed == {
        (merged["dup"], 1): ("worker", "closed"),
        (merged["reopened"], 1): ("worker", "reopened"),
    }
    assert ended[(merged["dup"], 0)] == "merged"
    assert ended[(merged["out"], 0)] == "merged" and ended[(merged["out"], 1)] == ""
    assert ended[(merged["reopened"], 0)] == "merged" and ended[(merged["reopened"], 2)] == ""
    month = parse_period("2025-03", ZoneInfo("Asia/Shanghai"))  # T0's month
    with engine.connect() as conn:
        by_month = perf.counts(conn, month)
        by_rows = perf.counts(conn, month, by_rows=True)
    assert by_month == by_rows
    # stints: primary, out (after its unmerge), second, reopened (after its reopen)
    assert by_month["assigned"] == 4
    assert by_month["accepted"] == 3  # dup's acceptance went with its merge
    # each resident's review once: primary's, dup's, reopened's (not satisfied)
    assert (by_month["reviews_reached"], by_month["reviews_satisfied"]) == (3, 2)
    assert (by_month["requests_reviewed"], by_month["requests_satisfied"]) == (3, 2)


def test_a_rebuild_gives_the_live_rows(
    merged: dict[str, str], database_url: str, engine: Engine
) -> None:
    before = dump(engine)
    rebuild(database_url, batch_size=4)
    assert dump(engine) == before
