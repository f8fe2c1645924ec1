"""What must hold before a Job that has its turn may start, over the story's fakes: the
profile's run window. (The window's arithmetic, daylight-saving days included:
tests/unit/test_windows.py.) The story's clock starts on Monday 2026-09-21, 14:13:20 UTC."""

from __future__ import annotations

from migration_trigger.domain.queueing import start_deadline
from migration_trigger.domain.windows import LONGEST_WAIT_SECONDS
from tests.story.world import StoryWorld

#: Monday 16:00-17:00 UTC: it opens 6,400 s after the story's clock starts.
LATER_TODAY = {"days": ["mon"], "start": "16:00", "end": "17:00", "timeZone": "UTC"}
#: Monday 14:00-15:00 UTC: open when the story's clock starts.
NOW = {"days": ["mon"], "start": "14:00", "end": "15:00", "timeZone": "UTC"}


def test_outside_its_window_a_migration_waits_until_it_opens_then_starts():
    world = StoryWorld(window=LATER_TODAY)
    started_at = world.start_times()

    document, error = world.run(world.event())

    assert error is None and document is not None and document["status"] == "succeeded"
    taken = world.steps_taken
    assert taken[taken.index("queue-0") + 1 :][:4] == [
        "window-0",
        "wait:window-closed-0",
        "window-1",
        "start-job",
    ]
    (start,) = started_at
    assert 16 * 3600 <= start % 86400 < 16 * 3600 + 60, "started as the window opened"
    assert any(
        m == "waiting for the profile's run window to open" for _, m, _ in world.recorded.log
    )


def test_inside_its_window_a_migration_starts_at_once():
    world = StoryWorld(window=NOW)

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "succeeded"
    taken = world.steps_taken
    assert taken[taken.index("queue-0") + 1 :][:2] == ["window-0", "start-job"]


def test_a_job_waiting_for_its_window_promises_to_start_by_after_the_longest_wait():
    """Another migration that cannot ask Lambda must not take it for abandoned meanwhile."""
    world = StoryWorld(window=LATER_TODAY)
    created = world.clock.now
    seen: list[float | None] = []
    look = world.jobs.database_jobs

    def looked(key: str) -> list[dict[str, object]]:
        jobs = look(key)
        seen.extend(start_deadline(job) for job in jobs)  # type: ignore[arg-type]
        return jobs

    world.jobs.database_jobs = looked  # type: ignore[method-assign]

    world.run(world.event())

    (deadline,) = set(seen)
    assert deadline is not None and deadline - created >= LONGEST_WAIT_SECONDS


def test_a_window_still_closed_after_its_waits_refuses_the_start_and_deletes_the_job():
    """A clock that disagrees with the waits (here: waits that pass no time at all)."""
    world = StoryWorld(window=LATER_TODAY)
    world.clock.advance = lambda seconds: None  # type: ignore[method-assign]

    _, error = world.run(world.event())

    assert error is not None
    assert "failed: the run window (mon 16:00-17:00 UTC) was still closed" in error
    assert "(it opens in 6400s)" in error
    assert [s for s in world.steps_taken if s.startswith("window")] == [
        "window-0",
        "window-1",
        "window-2",
    ]
    assert "start-job" not in world.steps_taken and world.jobs.jobs == {}
