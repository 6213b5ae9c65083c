"""Migration 0015 (estimated performance) matches its ORM tables, and downgrades cleanly."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from storage.base import Base
from storage.db import MIGRATIONS, make_engine, migrate, table_names

TABLES = {"model_estimators", "rollup_estimates", "rollup_estimate_classes", "rollup_estimate_bins"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _table(difference) -> str | None:
    item = difference[0] if isinstance(difference, list) else difference
    for part in item[1:]:  # (kind, schema, table name, …) or (kind, Table / Index / constraint)
        if isinstance(part, str):
            return part
        table = getattr(part, "table", None)
        name = table.name if table is not None else getattr(part, "name", None)
        if isinstance(name, str):
            return name
    return None


def test_the_migrated_estimation_tables_match_the_orm(engine) -> None:
    migrate(engine)

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert TABLES <= set(table_names(engine))
    assert [difference for difference in differences if _table(difference) in TABLES] == []


def test_downgrade_below_0015_removes_them_and_upgrade_brings_them_back(engine) -> None:
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    command.downgrade(config, "0013")

    assert not TABLES & set(table_names(engine))

    migrate(engine)
    assert TABLES <= set(table_names(engine))
