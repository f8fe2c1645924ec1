"""What the story does differently per trigger kind is one table (domain/events.py KIND_RULES):
the stages read it and never name a kind."""

from __future__ import annotations

import ast
import json

from migration_trigger.domain.events import KIND_RULES, FindsDatabase, TriggerKind
from migration_trigger.domain.profiles import DEFAULT_TRIGGERS, parse_profiles
from tests.helpers import ROOT


def test_every_kind_has_its_rule():
    assert set(KIND_RULES) == set(TriggerKind)


def test_each_kind_finds_keys_and_settles_as_its_events_require():
    rotated = KIND_RULES[TriggerKind.SECRET_ROTATED]
    assert rotated.finds_database is FindsDatabase.THROUGH_SECRET
    assert rotated.settles and not rotated.keyed_by_database
    for kind in (TriggerKind.DB_CREATED, TriggerKind.DB_RESTORED):
        assert KIND_RULES[kind].keyed_by_database, "a creation's or restore's events are one"
        assert KIND_RULES[kind].finds_database is FindsDatabase.NAMED
    # A request's id is chosen by whoever sends it: a migration's, or a check's.
    requested = {TriggerKind.MANUAL, TriggerKind.CHECK}
    assert all(KIND_RULES[kind].resent_runs_again for kind in requested)
    assert not any(r.resent_runs_again for k, r in KIND_RULES.items() if k not in requested)
    (checks,) = [k for k, r in KIND_RULES.items() if r.checks]
    assert checks is TriggerKind.CHECK and not KIND_RULES[checks].holds_data


def test_a_profile_runs_on_the_kinds_the_default_names_and_the_default_names_them_one_by_one():
    document = {
        "profiles": {
            "p": {
                "cluster": {"eksClusterName": "c"},
                "namespace": "m",
                "image": "i:1",
                "command": ["x"],
            }
        }
    }
    profile = parse_profiles(json.dumps(document))["p"]

    # The kinds there were when the default was written: a kind added later is not among them.
    existing = {"db-created", "db-restored", "secret-rotated", "manual"}
    assert profile.triggers == DEFAULT_TRIGGERS == {TriggerKind(kind) for kind in existing}
    source = (ROOT / "src" / "migration_trigger" / "domain" / "profiles.py").read_text()
    default = next(
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "DEFAULT_TRIGGERS" for t in node.targets)
    )
    named = {a.attr for a in ast.walk(default) if isinstance(a, ast.Attribute)}
    assert named == {"DB_CREATED", "DB_RESTORED", "SECRET_ROTATED", "MANUAL"}, (
        "a new kind is opt-in: the default lists kinds, it does not take them all"
    )


def test_the_story_and_its_stages_never_name_a_kind():
    for path in [
        ROOT / "src" / "migration_trigger" / "flow.py",
        *(ROOT / "src" / "migration_trigger" / "stages").glob("*.py"),
    ]:
        assert "TriggerKind" not in path.read_text(), path.name
