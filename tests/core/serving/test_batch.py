import io

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.serving.batch import read_csv, score_csv, template_csv
from core.serving.input_schema import build_schema
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction

COLUMNS = ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
SCHEMA = build_schema(
    [{"name": name, "type": "string" if name in ("cut", "color", "clarity") else "double"} for name in COLUMNS], None
)
HEADER = ",".join(COLUMNS)


def diamonds_csv(count: int) -> bytes:
    frame = load_diamonds().drop(columns="price")
    repeats = -(-count // len(frame))
    return pd.concat([frame] * repeats, ignore_index=True).head(count).to_csv(index=False).encode()


def test_quoted_numbers_bom_spaces_short_rows_and_extra_columns() -> None:
    data = f'\ufeff{HEADER},note\n"0.7", Ideal,G,VS2,"61.8",57,5.7,5.72,3.53,keep me\n0.8,Good\n'.encode()

    batch = read_csv(data, schema=SCHEMA)
    check = SCHEMA.validate_frame(batch.frame)

    assert list(batch.frame.columns) == [*COLUMNS, "note"]
    assert batch.notices == ["column(s) not used by the model, passed through to the results: note"]
    assert check.accepted_mask.tolist() == [True, False]
    assert check.clean.iloc[0].tolist() == [0.7, "Ideal", "G", "VS2", 61.8, 57.0, 5.7, 5.72, 3.53]
    assert check.problems["field"].tolist() == ["color", "clarity", "depth", "table", "x", "y", "z"]
    assert set(check.problems["rule"]) == {"required"}


def test_the_template_is_a_header_the_reader_accepts() -> None:
    batch = read_csv(template_csv(SCHEMA), schema=SCHEMA)
    assert list(batch.frame.columns) == COLUMNS


@pytest.fixture
def log(registry_home):
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.mark.slow
def test_two_hundred_thousand_rows_are_scored_and_logged_whole(registry_home, log, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_SHADOW", "false")
    from core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    seen: list[float] = []

    _, result = score_csv(settings, diamonds_csv(200_500), sessions=log, source="batch", progress=seen.append)

    assert result.rows_in == result.scored == 200_500 and result.rejected.empty
    scored = pd.read_csv(io.BytesIO(result.results_csv or b""))
    assert len(scored) == 200_500 and scored["prediction_id"].is_unique
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10
    with log.begin() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 200_500
