"""Rollback walks back through the ledger: v4 → v3 → v2, never forward to the version it just left."""

import pytest

from core import mlflow_io
from core.registry.guards import InvalidRequest
from core.registry.promotion import promote, remove_alias, rollback, rollback_path, rollback_target, walk_back
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import AliasChange, list_alias_changes


def change(origin: str, before: int | None, after: int | None) -> AliasChange:
    return AliasChange(alias="champion", from_version=before, to_version=after, origin=origin)


def path(*changes: tuple[str, int | None, int | None]) -> tuple[int | None, tuple[int, ...]]:
    walked = walk_back("champion", [change(*entry) for entry in changes])
    return walked.holder, walked.earlier


PROMOTED_TO_4 = [("bootstrap", None, 1), ("page", 1, 2), ("cli", 2, 3), ("page", 3, 4)]


def test_repeated_rollbacks_step_back_one_version_each_until_the_history_is_exhausted() -> None:
    assert path(*PROMOTED_TO_4) == (4, (3, 2, 1))
    assert path(*PROMOTED_TO_4, ("rollback", 4, 3)) == (3, (2, 1))
    assert path(*PROMOTED_TO_4, ("rollback", 4, 3), ("rollback", 3, 2)) == (2, (1,))
    assert path(*PROMOTED_TO_4, ("rollback", 4, 3), ("rollback", 3, 2), ("rollback", 2, 1)) == (1, ())


def test_a_promotion_after_a_rollback_is_a_new_step_and_the_rolled_back_version_is_not_offered() -> None:
    assert path(*PROMOTED_TO_4, ("rollback", 4, 3), ("page", 3, 5)) == (5, (3, 2, 1))
    # Promoting the version that was just left again is a step like any other.
    assert path(*PROMOTED_TO_4, ("rollback", 4, 3), ("page", 3, 4)) == (4, (3, 2, 1))


def test_removed_then_restored_is_no_new_step_and_a_removed_alias_rolls_back_to_its_last_version() -> None:
    removed = [*PROMOTED_TO_4, ("page", 4, None)]
    assert path(*removed) == (None, (4, 3, 2, 1))
    assert path(*removed, ("external", None, 4)) == (4, (3, 2, 1))
    assert path(*removed, ("rollback", None, 4)) == (4, (3, 2, 1))
    assert path(("bootstrap", None, 1), ("page", 1, None), ("external", None, 1)) == (1, ())


def test_outside_changes_count_as_steps_and_an_old_toggling_rollback_is_read_as_a_step() -> None:
    assert path(("bootstrap", None, 1), ("external", 1, 2)) == (2, (1,))
    # Ledgers written before rollbacks walked back toggled: 2 → 1 then 1 → 2 again.
    assert path(("bootstrap", None, 1), ("page", 1, 2), ("rollback", 2, 1), ("rollback", 1, 2)) == (2, ())


@pytest.fixture
def sessions(ridge_registry):
    engine = make_engine(ridge_registry.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_rollbacks_walk_the_registry_back_and_then_say_nothing_is_left(ridge_registry, sessions) -> None:
    settings = ridge_registry  # champion v1 hgb, challenger v2 rf, v3 ridge
    promote(settings, sessions=sessions, version=2, alias="champion", reason="rf", actor="ana")
    promote(settings, sessions=sessions, version=3, alias="champion", reason="ridge", actor="ana", override=True)
    assert rollback_path(settings, sessions=sessions, alias="champion").earlier == (2, 1)

    first = rollback(settings, sessions=sessions, alias="champion", reason="ridge is bad", actor="bo")
    assert (first.from_version, first.to_version) == (3, 2)
    assert rollback_target(settings, sessions=sessions, alias="champion") == (2, 1)

    second = rollback(settings, sessions=sessions, alias="champion", reason="rf too", actor="bo")
    assert (second.from_version, second.to_version) == (2, 1)
    assert mlflow_io.alias_map(settings)["champion"] == 1
    with pytest.raises(InvalidRequest, match="nothing to roll back to"):
        rollback(settings, sessions=sessions, alias="champion", reason="once more", actor="bo")
    with sessions() as session:
        rows = [
            (e.from_version, e.to_version, e.origin)
            for e in list_alias_changes(session, model_name=settings.model_name, alias="champion")
        ]
    assert rows[-2:] == [(3, 2, "rollback"), (2, 1, "rollback")]


def test_an_alias_removed_then_restored_outside_loupe_still_rolls_back(ridge_registry, sessions) -> None:
    settings = ridge_registry
    promote(settings, sessions=sessions, version=2, alias="champion", reason="rf", actor="ana")
    remove_alias(settings, sessions=sessions, alias="champion", reason="pause", actor="ana")
    mlflow_io.set_alias(settings, alias="champion", version=2)  # restored by another MLflow client

    assert rollback_target(settings, sessions=sessions, alias="champion") == (2, 1)
    move = rollback(settings, sessions=sessions, alias="champion", reason="back to hgb", actor="ana")
    assert (move.from_version, move.to_version) == (2, 1)
