"""Promoting the challenger's version to champion says what becomes of ``challenger``: keep, clear or move it."""

import pytest

from core import mlflow_io
from core.registry.guards import InvalidRequest
from core.registry.preflight import PreflightBlocked
from core.registry.promotion import challenger_choice, promote
from core.registry.status import shared_alias_note, shared_version
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import list_alias_changes


@pytest.fixture
def sessions(ridge_registry):
    engine = make_engine(ridge_registry.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def moves(settings, sessions):
    with sessions() as session:
        return [
            (entry.alias, entry.from_version, entry.to_version, entry.origin)
            for entry in list_alias_changes(session, model_name=settings.model_name)
        ]


def test_the_choice_reads_keep_clear_or_a_version() -> None:
    assert challenger_choice("keep") == "keep"
    assert challenger_choice(" Clear ") == "clear"
    assert challenger_choice("3") == 3 and challenger_choice("v3") == 3 and challenger_choice(2) == 2
    with pytest.raises(InvalidRequest, match="keep, clear or a version number"):
        challenger_choice("drop")


def test_both_aliases_on_one_version_are_named_with_idle_shadow_scoring() -> None:
    assert shared_version({"champion": 2, "challenger": 2}) == 2
    assert shared_version({"champion": 1, "challenger": 2}) is None
    assert shared_version({"champion": 1}) is None and shared_version({"champion": None, "challenger": None}) is None
    note = shared_alias_note({"champion": 3, "challenger": 3, "canary": 1})
    assert note is not None and "version 3" in note and "shadow scoring is idle" in note
    assert shared_alias_note({"champion": 3, "challenger": 1}) is None


def test_clearing_removes_challenger_in_the_same_move_with_its_own_ledger_entry(ridge_registry, sessions) -> None:
    move = promote(
        ridge_registry, sessions=sessions, version=2, alias="champion", reason="rf won", actor="ana", challenger="clear"
    )

    assert [(also.alias, also.from_version, also.to_version) for also in move.also] == [("challenger", 2, None)]
    assert mlflow_io.alias_map(ridge_registry) == {"champion": 2}
    assert moves(ridge_registry, sessions)[-2:] == [("champion", 1, 2, "page"), ("challenger", 2, None, "page")]
    with sessions() as session:
        last = list_alias_changes(session, model_name=ridge_registry.model_name)[-1]
    assert last.reason == "cleared as version 2 became champion: rf won" and last.actor == "ana"


def test_pointing_challenger_elsewhere_is_checked_and_a_blocked_check_moves_nothing(ridge_registry, sessions) -> None:
    before = moves(ridge_registry, sessions)
    with pytest.raises(PreflightBlocked):  # ridge (v3) is far worse than rf (v2) on the holdout
        promote(ridge_registry, sessions=sessions, version=2, alias="champion", reason="r", actor="a", challenger=3)
    assert mlflow_io.alias_map(ridge_registry) == {"champion": 1, "challenger": 2}
    assert moves(ridge_registry, sessions) == before

    move = promote(ridge_registry, sessions=sessions, version=2, alias="champion", reason="r", actor="a", challenger=1)

    assert [(also.alias, also.from_version, also.to_version) for also in move.also] == [("challenger", 2, 1)]
    assert move.also[0].preflight is not None
    assert mlflow_io.alias_map(ridge_registry) == {"champion": 2, "challenger": 1}


def test_the_choice_only_applies_when_champion_takes_the_challengers_version(ridge_registry, sessions) -> None:
    # Keeping (the default) is covered in test_promotion: both aliases stay on the promoted version.
    promote(
        ridge_registry,
        sessions=sessions,
        version=3,
        alias="champion",
        reason="r",
        actor="a",
        override=True,
        challenger="clear",
    )
    assert mlflow_io.alias_map(ridge_registry) == {"champion": 3, "challenger": 2}
    promote(ridge_registry, sessions=sessions, version=1, alias="canary", reason="r", actor="a", challenger="clear")
    assert mlflow_io.alias_map(ridge_registry)["challenger"] == 2
