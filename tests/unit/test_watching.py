"""Following a started Job (domain/watching.py): the checks' schedule, when the log tail is read,
when a pod that has not started is stuck, and when following stops."""

from __future__ import annotations

from migration_trigger.domain.jobstate import Hold, JobPhase, JobState
from migration_trigger.domain.schedule import BACKSTOP_SECONDS, RUNNING
from migration_trigger.domain.watching import PERSIST_GRACE_SECONDS, STARTED, Watch
from tests.helpers import sample_profile


def watch_of(**keys: object) -> Watch:
    return Watch.of(sample_profile(**keys))


def test_a_profiles_watch_checks_on_its_schedule_up_to_the_deadline_and_the_backstop():
    watch = watch_of(pollSeconds=5, activeDeadlineSeconds=1800, startTimeoutSeconds=120)

    assert (watch.start_timeout, watch.limit) == (120, 1800 + BACKSTOP_SECONDS)
    pauses = [RUNNING.pause(sample_profile(pollSeconds=5), w) for w in (0, 595, 600, 7200)]
    assert pauses == [5, 5, 60, 60]


def test_the_log_tail_is_read_on_the_second_check_then_every_five_minutes_of_waiting():
    watch, reads = watch_of(pollSeconds=10), []
    for check in range(40):
        watch, read = watch.reads_tail(check, waited=10 * (check + 1))
        reads.append(check) if read else None

    assert reads == [1, 31]


def test_an_unseen_job_is_followed_until_its_limit_then_timed_out_naming_the_outage():
    watch = watch_of(activeDeadlineSeconds=60)
    watch, _ = watch.observe(JobState(JobPhase.RUNNING, "running", "p-1"), 10, 10)

    watch, ended = watch.unseen_for(60, 600, "503")
    assert ended is None
    watch, ended = watch.unseen_for(60, 661, "503")

    assert ended == JobState(
        JobPhase.TIMED_OUT,
        "the Job could not be checked for 120s of waiting, until its deadline had passed: 503",
        "p-1",
    )


def test_seeing_the_job_again_resets_the_unseen_time():
    watch = watch_of()
    watch, _ = watch.unseen_for(60, 60, "503")

    watch, _ = watch.observe(STARTED, 120, 120)

    assert watch.unseen == 0


def test_a_job_still_running_past_its_limit_is_timed_out():
    watch = watch_of(activeDeadlineSeconds=60)

    _, state = watch.observe(JobState(JobPhase.RUNNING, "running", "p-1"), 700, 661)

    assert state == JobState(JobPhase.TIMED_OUT, "the Job did not finish within 660s", "p-1")


def test_the_grace_is_the_kubelets_first_five_back_offs():
    """10 s doubled, capped at 300 s (pkg/kubelet/kubelet.go): 10 + 20 + 40 + 80 + 160."""
    assert PERSIST_GRACE_SECONDS == 310


def test_a_create_error_that_persists_is_final_after_the_grace():
    create = JobState(JobPhase.RUNNING, "cannot create", "p-1", Hold.CREATE_ERROR)
    watch, state = Watch(start_timeout=3600).see(create, 10)
    assert state.phase is JobPhase.RUNNING

    _, state = watch.see(create, 10 + PERSIST_GRACE_SECONDS)

    assert state.phase is JobPhase.STUCK
    assert state.reason == f"cannot create (for {PERSIST_GRACE_SECONDS}s of checks)"


def pull(pod_name: str = "p-1") -> JobState:
    return JobState(JobPhase.RUNNING, "cannot pull", pod_name, Hold.IMAGE_PULL)


def test_a_pull_error_is_final_only_after_the_grace_of_checks():
    watch = Watch(start_timeout=600)
    for waited in range(10, 10 + PERSIST_GRACE_SECONDS, 10):
        watch, state = watch.see(pull(), waited)
        assert state.phase is JobPhase.RUNNING, waited

    _, state = watch.see(pull(), 10 + PERSIST_GRACE_SECONDS)

    assert state.phase is JobPhase.STUCK
    assert state.reason == f"cannot pull (for {PERSIST_GRACE_SECONDS}s of checks)"


def test_a_pull_error_that_clears_starts_the_grace_again():
    watch = Watch(start_timeout=600)
    watch, _ = watch.see(pull(), 10)
    watch, _ = watch.see(JobState(JobPhase.RUNNING, "the migration is running", "p-1"), 20)
    watch, state = watch.see(pull(), 30 + PERSIST_GRACE_SECONDS - 1)

    assert state.phase is JobPhase.RUNNING


def test_a_first_pod_not_started_by_the_start_timeout_is_stuck():
    held = JobState(JobPhase.RUNNING, "pod p-1 cannot be scheduled: …", "p-1", Hold.UNSCHEDULABLE)
    watch = Watch(start_timeout=60)
    watch, state = watch.see(held, 50)
    assert state.phase is JobPhase.RUNNING

    _, state = watch.see(held, 60)

    assert state.phase is JobPhase.STUCK
    assert state.reason.endswith("; the pod did not start within startTimeoutSeconds (60s)")


def test_the_start_timeout_does_not_apply_to_a_retry():
    retry = JobState(JobPhase.RUNNING, "starting", "p-2", Hold.STARTING, ran_before=True)

    _, state = Watch(start_timeout=60).see(retry, 6000)

    assert state.phase is JobPhase.RUNNING


def test_a_deadline_before_the_start_says_what_held_the_pod():
    held = JobState(JobPhase.RUNNING, "pod p-1 cannot be scheduled: X", "p-1", Hold.UNSCHEDULABLE)
    gone = JobState(JobPhase.RUNNING, "no pod", None, Hold.STARTING)
    timed_out = JobState(JobPhase.TIMED_OUT, "the migration ran longer than its 60s deadline", None)
    watch = Watch(start_timeout=600)
    watch, _ = watch.see(held, 10)
    watch, _ = watch.see(gone, 20)

    _, state = watch.see(timed_out, 30)

    assert state.reason == (
        "the migration ran longer than its 60s deadline; its pod never started: "
        "pod p-1 cannot be scheduled: X"
    )


# -- whose execution to ask Lambda about ----------------------------------------------------------
