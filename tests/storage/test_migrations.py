"""Migration 0010: typed feature rows fold into ``predictions.inputs`` and unfold back, value for value."""

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from storage.db import MIGRATIONS, current_revision, head_revision, make_engine, make_sessionmaker, migrate
from storage.prediction_log import add_feedback, count_predictions, features_of, log_predictions

pytestmark = pytest.mark.slow  # every migration up and down on SQLite and PostgreSQL

# Values that catch a lossy copy: 17-digit doubles, tiny and huge numbers, whole numbers, quotes, non-ASCII, NULLs.
LOGGED = [
    {"carat": 0.1 + 0.2, "depth": 61.5, "cut": "Ideal", "note": None},
    {"carat": 1e-20, "depth": 1.2345678901234567e300, "cut": 'say "hi"\\ ✓', "note": "x"},
    {"carat": 3.0, "depth": -0.0, "cut": None, "note": None},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log' / 'loupe.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _log_at_0009(engine) -> list[int]:
    """Three answers with typed feature rows and one shadow without, written as 0009 stored them."""
    migrate(engine, revision="0009")
    ids = []
    with engine.begin() as connection:
        for index, values in enumerate(LOGGED):
            connection.execute(
                text(
                    "INSERT INTO predictions (created_at, model_name, model_version, alias, prediction, latency_ms, "
                    "source, request_id, is_ood, ood_fields, is_shadow) VALUES "
                    "(:at, 'm', 1, 'champion', :p, 3.0, 'batch', 'old', false, NULL, false)"
                ),
                {"at": datetime(2026, 1, 1, index, tzinfo=UTC).replace(tzinfo=None), "p": float(index)},
            )
            prediction_id = connection.execute(text("SELECT MAX(id) FROM predictions")).scalar()
            ids.append(int(prediction_id))
            for name, value in values.items():
                connection.execute(
                    text("INSERT INTO prediction_features VALUES (:id, :name, :num, :cat)"),
                    {
                        "id": prediction_id,
                        "name": name,
                        "num": value if isinstance(value, float) else None,
                        "cat": value if isinstance(value, str) else None,
                    },
                )
        connection.execute(
            text(
                "INSERT INTO predictions (created_at, model_name, model_version, alias, prediction, latency_ms, "
                "source, request_id, is_ood, is_shadow, shadow_of) VALUES "
                "(:at, 'm', 2, 'challenger', 9.0, 3.0, 'batch', 'old', false, true, :of)"
            ),
            {"at": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None), "of": ids[0]},
        )
    return ids


def _downgrade(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    command.downgrade(config, revision)


def _feature_rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT prediction_id, feature, num_value, cat_value FROM prediction_features")
        ).all()
    return sorted(tuple(row) for row in rows)


def test_0010_folds_every_feature_row_into_its_prediction_exactly_and_unfolds_back(engine) -> None:
    ids = _log_at_0009(engine)
    before = _feature_rows(engine)

    migrate(engine)

    assert (
        current_revision(engine) == head_revision() and "prediction_features" not in inspect(engine).get_table_names()
    )
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        for prediction_id, values in zip(ids, LOGGED, strict=True):
            logged = features_of(session, prediction_id=prediction_id)
            assert logged == values  # every double bit for bit, text as text, NULL as missing
            assert all(type(logged[name]) is type(value) for name, value in values.items())  # 3.0 stays a number
        shadow = session.execute(text("SELECT inputs FROM predictions WHERE is_shadow")).scalar()
        assert shadow is None  # shadows borrow the answer's inputs
        (new_id,) = log_predictions(session, records=[_record()], features=[{"carat": 0.5, "cut": "Good"}])
        assert add_feedback(session, actuals={ids[0]: 1.0, new_id: 2.0}) == []

    _downgrade(engine, "0009")

    assert "inputs" not in {column["name"] for column in inspect(engine).get_columns("predictions")}
    restored = _feature_rows(engine)
    added = [row for row in restored if row[0] == new_id]
    assert [row for row in restored if row[0] != new_id] == before
    assert added == [(new_id, "carat", 0.5, None), (new_id, "cut", None, "Good")]
    with make_sessionmaker(engine).begin() as session:
        assert count_predictions(session) == 5  # nothing lost by the table rebuild either way
        assert session.execute(text("SELECT COUNT(*) FROM feedback")).scalar() == 2

    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        assert features_of(session, prediction_id=ids[1]) == LOGGED[1]


def _record() -> dict:
    return {
        "created_at": datetime.now(UTC),
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": 1.0,
        "latency_ms": 1.0,
        "source": "form",
        "request_id": "new",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }


def test_the_migrated_schema_is_the_orm_schema(engine) -> None:
    """Every table, column, index and constraint the ORM declares is what the migrations build, and nothing else."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.base import Base

    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


# Each migration that adds tables: its downgrade removes exactly them and the upgrade brings them back.
ADDED_TABLES = {
    "0015": {"model_estimators", "rollup_estimates", "rollup_estimate_classes", "rollup_estimate_bins"},
    "0016": {"rollup_multivariate", "rollup_segments", "rollup_segment_features"},
    "0017": {"alert_incidents", "alert_deliveries"},
}


@pytest.mark.parametrize("revision", sorted(ADDED_TABLES))
def test_a_downgrade_removes_the_tables_its_migration_added_and_upgrade_brings_them_back(engine, revision) -> None:
    from alembic.script import ScriptDirectory

    from storage.db import table_names

    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    below = ScriptDirectory.from_config(config).get_revision(revision).down_revision
    tables = ADDED_TABLES[revision]
    assert tables <= set(table_names(engine))

    command.downgrade(config, str(below))
    assert not tables & set(table_names(engine))
    migrate(engine)
    assert tables <= set(table_names(engine))
