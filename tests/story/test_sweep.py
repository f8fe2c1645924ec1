"""The reconciliation sweep over the story's fakes and through the durable execution SDK as in
Lambda: what it finds of each database, the requests it sends, and how those requests and the
databases' own late events converge on one Job. RDS, DynamoDB and EventBridge over a real wire,
with a thousand databases: tests/functional/orchestrator/test_sweep.py."""

from __future__ import annotations

from typing import Any

from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.ledger import Entry, epoch
from migration_trigger.domain.sweep import Request
from tests.story.world import DB_ARN, RUNNING, PodScript, StoryWorld, exited, reject

#: The sample database's creation, before the story's clock starts (2026-09-21).
CREATED = "2026-09-01T09:00:00+00:00"
SWEEP: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-06T10:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/migration-trigger-test-sweep"],
    "detail": {},
}


def world_of(**profile: Any) -> StoryWorld:
    """The story's world, its database created before the clock starts and after the ledger
    began."""
    world = StoryWorld(**profile)
    world.rds.facts = world.rds.facts._replace(created=CREATED)
    world.ledger.began = (epoch(CREATED) or 0) - 86400
    return world


def another(identifier: str, **changes: Any) -> DatabaseFacts:
    facts = StoryWorld().rds.facts
    arn = DB_ARN.replace("orders-db", identifier)
    return facts._replace(arn=arn, identifier=identifier, created=CREATED, **changes)


def recorded(world: StoryWorld, status: str, *, image: str, trigger: str = "manual") -> None:
    """A later migration of the world's database than any so far, in the ledger."""
    world.clock.advance(60)
    world.ledger.record(
        Entry(DB_ARN, trigger, world.clock(), f"later-{status}", status, f"m-{status}", image, {})
    )
    world.clock.advance(60)


def test_a_creation_no_event_announced_is_migrated_by_the_sweep_and_its_late_event_is_a_duplicate():
    world = world_of()

    swept = world.run_durably(SWEEP)

    assert swept.status == "SUCCEEDED"
    summary = swept.result
    assert (summary["opted_in"], summary["behind"], summary["started"]) == (1, 0, 1)
    assert summary["started_names"] == [
        f"orders-db: created or restored {CREATED} with no migration since"
    ]
    (request,) = world.requests.sent
    assert request.missed == ("db-created", CREATED)
    # The request, delivered as the requests bus's rule delivers it, migrates as a creation
    migrated = world.run_durably(world.requests.event(request))
    assert migrated.result["status"] == "succeeded"
    assert migrated.result["trigger"] == "db-created"
    # and the creation's own event, arriving late, finds that Job
    late, _ = world.run(world.event())
    assert late is not None and late["status"] == "duplicate"
    assert len(world.jobs.jobs) == 1
    (announced,) = world.announced.sweeps
    assert announced.started == 1


def test_a_database_migrated_since_its_creation_is_up_to_date_and_nothing_is_announced():
    world = world_of()
    world.run_durably(world.event())

    swept = world.run_durably(SWEEP)

    assert swept.result["up_to_date"] == 1 and swept.result["started"] == 0
    assert world.requests.sent == []
    assert world.announced.sweeps == []
    (metrics,) = world.recorded.sweep_metrics
    assert metrics.opted_in == 1


def test_a_database_older_than_the_ledger_is_reported_never_started():
    world = world_of()
    world.ledger.began = world.clock()

    swept = world.run_durably(SWEEP)

    assert (swept.result["behind"], swept.result["started"]) == (1, 0)
    assert "created before the ledger" in swept.result["behind_names"][0]
    assert world.requests.sent == []


def test_a_failed_migration_is_retried_once_only_where_the_profile_asks():
    world = world_of()
    world.run_durably(world.event())
    recorded(world, "failed", image="ghcr.io/example/orders-migrations:1.0.0")

    quiet = world.run_durably(SWEEP)

    assert (quiet.result["behind"], quiet.result["started"]) == (1, 0)
    assert "not retried" in quiet.result["behind_names"][0]

    world = world_of(sweep={"retryFailed": True})
    world.run_durably(world.event())
    recorded(world, "failed", image="ghcr.io/example/orders-migrations:1.0.0")
    world.clock.advance(7200)
    retried = world.run_durably(SWEEP)
    (request,) = world.requests.sent
    assert retried.result["started"] == 1 and request.missed is None
    ran = world.run_durably(world.requests.event(request))
    assert ran.result["status"] == "succeeded" and ran.result["trigger"] == "manual"
    again = world.run_durably(SWEEP)
    assert again.result["up_to_date"] == 1, "the retry's success is the latest migration"


def test_an_image_change_is_reported_or_migrated_as_the_profile_says():
    world = world_of()
    world.run_durably(world.event())
    recorded(world, "succeeded", image="ghcr.io/example/orders-migrations:0.9.0")
    world.clock.advance(60)

    reported = world.run_durably(SWEEP)

    assert (reported.result["behind"], reported.result["started"]) == (1, 0)
    assert "orders-migrations:0.9.0" in reported.result["behind_names"][0]

    world = world_of(sweep={"onImageChange": "migrate"})
    world.ledger.record(
        Entry(DB_ARN, "db-created", world.clock(), "first", "succeeded", "j", "old:1", {})
    )
    world.clock.advance(60)
    migrated = world.run_durably(SWEEP)
    (request,) = world.requests.sent
    assert migrated.result["started"] == 1
    assert "last migrated with old:1" in request.reason


def test_one_sweep_sends_at_most_its_share_and_leaves_the_rest_for_the_next():
    world = world_of()
    world.rds.others = [another(f"tenant-{i:02d}") for i in range(5)]
    world.services.settings = world.settings._replace(SWEEP_MAX_STARTS=2)

    swept = world.run_durably(SWEEP)

    assert (swept.result["opted_in"], swept.result["started"], swept.result["behind"]) == (6, 2, 4)
    assert swept.result["deferred"] == 4
    assert len(world.requests.sent) == 2


def test_databases_that_cannot_migrate_as_configured_are_announced():
    world = world_of(triggers=["db-created"], sweep={"retryFailed": True})
    world.rds.others = [
        another("typo-db", tags={"migration-trigger:profile": "ordres"}),
        another("elsewhere-db", tags={"migration-trigger:profile": "prod/orders"}),
        another("untagged-db", tags={}),
    ]
    world.run_durably(world.event())
    recorded(world, "failed", image="x", trigger="db-created")

    swept = world.run_durably(SWEEP)

    assert swept.result["opted_in"] == 2, "another deployment's and an untagged one are not"
    assert swept.result["cannot_migrate"] == 2
    names = " ".join(swept.result["cannot_names"])
    assert "names no profile" in names and "does not run on manual requests" in names
    (announced,) = world.announced.sweeps
    assert announced.cannot_migrate == 2


def test_a_missed_creation_request_for_a_database_migrated_since_runs_nothing():
    """Anyone who may send to the requests bus could send one: it does no more than the
    creation's late event would, and nothing once the database was migrated."""
    world = world_of()
    world.run_durably(SWEEP)
    (request,) = world.requests.sent
    world.run_durably(world.event())  # the creation's own event came after all

    document, _ = world.run(world.requests.event(request))

    assert document is not None and document["status"] == "ignored"
    assert "was migrated since its creation" in document["reason"]
    assert len(world.jobs.jobs) == 1


def test_a_missed_creation_request_naming_another_creation_time_runs_nothing():
    world = world_of()
    forged = world.requests.event(missed("2020-01-01T00:00:00+00:00"))

    document, _ = world.run(forged)

    assert document is not None and document["status"] == "ignored"
    assert "names a creation at 2020-01-01" in document["reason"]
    assert world.jobs.jobs == {}


def missed(created: str) -> Request:
    """A request for a missed creation, as anyone who may send to the requests bus could."""
    return Request(DB_ARN, "forged", "reconciliation sweep: forged", missed=("db-created", created))


def test_a_sweep_in_a_batch_is_not_run():
    world = world_of()

    ended = world.run_durably([SWEEP])

    assert ended.result[0]["status"] == "ignored"
    assert world.requests.sent == []


def test_the_sweeps_failing_announcement_is_counted_and_the_sweep_stands():
    world = world_of()

    def refuse(_: Any) -> None:
        from migration_trigger.errors import AwsError

        raise AwsError("throttled", code="Throttling", retryable=False)

    world.announced.swept = refuse  # type: ignore[method-assign]

    swept = world.run_durably(SWEEP)

    assert swept.status == "SUCCEEDED" and swept.result["started"] == 1
    assert world.recorded.failed_notifications == 1


def test_a_job_the_sweep_started_runs_like_any_other():
    world = world_of()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (60, exited(0))]))
    world.run_durably(SWEEP)
    (request,) = world.requests.sent

    ran = world.run_durably(world.requests.event(request))

    assert ran.result["status"] == "succeeded"
    standing = world.ledger.standings([DB_ARN])[DB_ARN]
    assert standing.success is not None and standing.success.trigger == "db-created"


def test_a_creation_for_a_profile_that_takes_only_restores_is_reported_never_started():
    """RDS lists a restored database as one created then (a restore is a new instance or
    cluster): which of the two it was, the list cannot say. A profile that runs on only one of
    them gets the database reported, not migrated as the other; and a request claiming it
    missed is refused by the execution."""
    world = world_of(triggers=["db-restored", "manual"])

    swept = world.run_durably(SWEEP)

    assert world.requests.sent == []
    assert swept.result["behind"] == 1
    assert "which this was cannot be told" in swept.result["behind_names"][0]
    document, _ = world.run(world.requests.event(missed(CREATED)))
    assert document is not None and document["status"] in ("skipped", "ignored")
    assert world.jobs.jobs == {}


def test_a_retry_the_sweep_requested_that_failed_is_not_requested_again():
    world = world_of(sweep={"retryFailed": True})
    world.run_durably(world.event())
    recorded(world, "failed", image="ghcr.io/example/orders-migrations:1.0.0")
    world.run_durably(SWEEP)
    (retry,) = world.requests.sent
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (60, exited(1))]))
    assert world.run_durably(world.requests.event(retry)).status == "FAILED"

    again = world.run_durably(SWEEP)

    assert len(world.requests.sent) == 1, "a person decides now"
    assert again.result["behind"] == 1 and again.result["started"] == 0
    assert "not sent again" in again.result["behind_names"][0]


def test_an_image_change_a_person_declined_is_not_asked_again():
    world = world_of(
        sweep={"onImageChange": "migrate"}, approval={"required": True, "timeoutSeconds": 600}
    )
    world.ledger.record(
        Entry(DB_ARN, "db-created", world.clock(), "first", "succeeded", "j", "old:1", {})
    )
    world.clock.advance(60)
    world.run_durably(SWEEP)
    (request,) = world.requests.sent
    world.approvers.answers.append(reject(after=60))
    assert world.run_durably(world.requests.event(request)).result["status"] == "declined"

    again = world.run_durably(SWEEP)

    assert len(world.requests.sent) == 1
    assert again.result["started"] == 0
    assert "ended declined" in again.result["behind_names"][0]


def test_a_database_that_is_not_available_gets_no_request():
    world = world_of()
    world.rds.facts = world.rds.facts._replace(status="stopped")

    swept = world.run_durably(SWEEP)

    assert world.requests.sent == []
    assert swept.result["behind_names"] == ["orders-db: it is 'stopped': looked at again later"]


def test_a_result_that_ran_nothing_never_hides_a_migration_that_ran():
    """A duplicate, a skip or an ignored request recorded after a migration is history only:
    the database still counts as migrated, so nothing asks for its creation's migration again."""
    world = world_of()
    world.run_durably(world.event())
    world.clock.advance(60)
    world.run(world.event())  # a redelivery: duplicate
    world.run(world.requests.event(missed("2020-01-01T00:00:00+00:00")))  # ignored

    swept = world.run_durably(SWEEP)

    assert swept.result["up_to_date"] == 1
    assert world.requests.sent == []


def test_a_missed_creation_request_without_a_ledger_or_from_before_it_runs_nothing():
    world = world_of()
    world.services.ledger = None

    document, _ = world.run(world.requests.event(missed(CREATED)))

    assert document is not None and document["status"] == "ignored"
    assert "no ledger" in document["reason"]
    world = world_of()
    world.ledger.began = world.clock()
    document, _ = world.run(world.requests.event(missed(CREATED)))
    assert document is not None and "before the ledger began" in document["reason"]
    assert world.jobs.jobs == {}
