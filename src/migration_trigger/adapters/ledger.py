"""The migration ledger in DynamoDB (the template's `Ledger` table): one standing item and
history items per database, keyed by the database's ARN (`database`) and the item (`entry`).

Every write is idempotent and ordered by the result's time, so the report step may run again
(a crash before its checkpoint) and results may arrive out of order: the standing keeps the
newest of each kind. The table's layout (DynamoDB Developer Guide, "Working with items"):

    database (HASH)  entry (RANGE)     attributes
    <db ARN>         standing          latest:<trigger> (JSON), at:<trigger> (N),
                                       success (JSON), success_at (N), updated_at (N),
                                       switched (the creation time of the database that took
                                       the name by a Blue/Green switchover), switched_by
    <db ARN>         run#<execution>   at (N), status, trigger, job, image, digest,
                                       result (the result document, JSON), expires_at (N, TTL)
    ended#<exec ARN> claim             claimant (the execution reporting that end), at (N),
                                       expires_at (N, TTL)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from migration_trigger.adapters.aws import LazyClient, call
from migration_trigger.domain.ledger import Entry, Standing, digest_of, standing
from migration_trigger.errors import AwsError

STANDING = "standing"
#: BatchGetItem reads at most 100 keys per call (DynamoDB API reference, BatchGetItem).
BATCH_KEYS = 100


class DynamoLedger(LazyClient):
    """Results and standings of databases in one DynamoDB table. The client is made on first
    use."""

    __slots__ = ("_history_seconds", "table")

    def __init__(self, make_client: Callable[[], Any], table: str, *, history_days: int) -> None:
        super().__init__(make_client)
        self.table = table
        self._history_seconds = history_days * 86400

    def record(self, entry: Entry) -> None:
        """Write the entry's history item, then bring the database's standing up to it: a result
        about a Job of its own (Entry.decided) if it is the newest of its kind; a success, if it
        is the newest success."""
        key = {"database": {"S": entry.database}}
        item = {
            **key,
            "entry": {"S": f"run#{entry.execution}"},
            "at": _number(entry.at),
            "status": {"S": entry.status},
            "trigger": {"S": entry.trigger},
            "result": {"S": json.dumps(entry.document, sort_keys=True)},
            "expires_at": _number(int(entry.at) + self._history_seconds),
        }
        if entry.job:
            item["job"] = {"S": entry.job}
        if entry.image:
            item["image"] = {"S": entry.image}
        if digest := digest_of(entry.image):
            item["digest"] = {"S": digest}
        call(
            f"record the result of {entry.execution} in ledger {self.table}",
            lambda: self.client.put_item(TableName=self.table, Item=item),
        )
        summary = json.dumps(entry.summary(), sort_keys=True)
        if entry.decided:
            self._newer(entry, f"latest:{entry.trigger}", f"at:{entry.trigger}", summary)
        if entry.succeeded:
            self._newer(entry, "success", "success_at", summary)

    def _newer(self, entry: Entry, name: str, at: str, summary: str) -> None:
        """Set the standing's `name` to `summary` unless it holds a newer one already."""

        def update() -> None:
            # A newer result of this kind may be recorded already: then this one is history only.
            with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
                self.client.update_item(
                    TableName=self.table,
                    Key={"database": {"S": entry.database}, "entry": {"S": STANDING}},
                    UpdateExpression="SET #value = :value, #at = :at, updated_at = :at",
                    ConditionExpression="attribute_not_exists(#at) OR #at <= :at",
                    ExpressionAttributeNames={"#value": name, "#at": at},
                    ExpressionAttributeValues={":value": {"S": summary}, ":at": _number(entry.at)},
                )

        call(f"record {name} of {entry.database} in ledger {self.table}", update)

    def switched(self, database: str, created: str, deployment: str) -> None:
        """Note that the database now under this name took it by Blue/Green deployment
        `deployment`'s switchover, and was created `created` (domain/ledger.Standing.switched).
        Idempotent; a later switchover's database replaces an earlier one's."""
        call(
            f"record the switchover of {database} in ledger {self.table}",
            lambda: self.client.update_item(
                TableName=self.table,
                Key={"database": {"S": database}, "entry": {"S": STANDING}},
                UpdateExpression="SET switched = :created, switched_by = :deployment",
                ExpressionAttributeValues={
                    ":created": {"S": created},
                    ":deployment": {"S": deployment},
                },
            ),
        )

    def claim(self, key: str, claimant: str, *, at: float) -> str:
        """Claim `key` (an item `database=<key>`, `entry=claim`, kept as long as history) for
        `claimant`, unless another claimed it first: a conditional PutItem, so of two at once
        exactly one wins (DynamoDB Developer Guide, "Condition expressions"). The claimant, or
        `another execution`."""
        item = {
            "database": {"S": key},
            "entry": {"S": "claim"},
            "claimant": {"S": claimant},
            "at": _number(at),
            "expires_at": _number(int(at) + self._history_seconds),
        }

        def put() -> str:
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#db) OR claimant = :me",
                    ExpressionAttributeNames={"#db": "database"},
                    ExpressionAttributeValues={":me": {"S": claimant}},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                return "another execution"
            return claimant

        return call(f"claim {key} in ledger {self.table}", put)

    def since(self) -> float:
        """When the table was created (DescribeTable's CreationDateTime), epoch seconds."""
        table = call(
            f"describe ledger {self.table}",
            lambda: self.client.describe_table(TableName=self.table),
        )["Table"]
        created = table.get("CreationDateTime")
        return float(created.timestamp()) if hasattr(created, "timestamp") else float(created or 0)

    def standing(self, database: str) -> Standing:
        """What the ledger says of one database (nothing recorded: an empty standing)."""
        return self.standings([database])[database]

    def standings(self, databases: Iterable[str]) -> dict[str, Standing]:
        """What the ledger says of each database, read 100 at a time (BatchGetItem), keys it
        left unprocessed asked again."""
        wanted = list(dict.fromkeys(databases))
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            keys = [
                {"database": {"S": d}, "entry": {"S": STANDING}}
                for d in wanted[start : start + BATCH_KEYS]
            ]
            for item in self._batch_get(keys):
                found[item["database"]["S"]] = {
                    k: v.get("S", "") for k, v in item.items() if "S" in v
                }
        return {d: standing(d, found.get(d, {})) for d in wanted}

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(10):
            page = call(
                f"read standings from ledger {self.table}",
                partial(self.client.batch_get_item, RequestItems=request),
            )
            items.extend(page.get("Responses", {}).get(self.table, []))
            request = page.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise AwsError(
            f"read standings from ledger {self.table}: keys still unprocessed after 10 tries",
            retryable=True,
        )

    def history(self, database: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The database's recorded results, newest first (at most `limit`)."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#db = :db AND begins_with(#entry, :run)",
            "ExpressionAttributeNames": {"#db": "database", "#entry": "entry"},
            "ExpressionAttributeValues": {":db": {"S": database}, ":run": {"S": "run#"}},
        }
        while True:
            page = call(
                f"read the history of {database} from ledger {self.table}",
                partial(self.client.query, **request),
            )
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}
        items.sort(key=lambda item: float(item["at"]["N"]), reverse=True)
        return [json.loads(item["result"]["S"]) | {"at": float(item["at"]["N"])} for item in items][
            :limit
        ]


def _number(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3)) if isinstance(value, float) else str(value)}
