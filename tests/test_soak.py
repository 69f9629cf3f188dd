"""A short soak of the real bot through the fake Discord: hundreds of events from 20 users with reindexes running.

The full soak (5,000 events from 100 users) is `make soak` (`python -m bench.soak`); this is the same
driver at a size that runs in seconds, with every check asserted, memory included.
"""

from __future__ import annotations

from bench.soak import MEMORY_BOUND, run_soak

EVENTS, USERS = 300, 20


async def test_short_soak_every_event_answered_once_no_errors_memory_flat() -> None:
    result = await run_soak(EVENTS, USERS, concurrency=32, reindex_every=90, seed=7)
    report = result.report()
    assert result.events == EVENTS, report
    assert result.interactions + result.messages == EVENTS
    assert not result.lost, report
    assert not result.problems, report
    assert not result.log_errors, report
    assert result.errors == 0, report
    # Every kind of event was exercised, and the reindexes ran among the questions.
    expected = {"ask", "ask_private", "ask_not_found", "ask_hostile", "sources", "help", "mention", "dm",
                "feedback", "reindex"}
    assert expected <= set(result.by_kind), result.by_kind
    assert result.reindexes_done >= 2, report
    assert result.reindexes_done + result.reindexes_busy == result.by_kind["reindex"], report
    assert len(result.latencies_ms) == EVENTS
    assert result.mention_checked >= EVENTS - result.by_kind["reindex"], "every message-bearing output was checked"
    assert set(result.http_statuses) <= {200, 204}, result.http_statuses
    assert result.questions_logged >= result.by_kind["ask"], report
    assert abs(result.memory_growth) <= MEMORY_BOUND, report
    assert result.failures() == [], report
