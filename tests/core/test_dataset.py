import gzip
import shutil
import socket

import pandas as pd
import pytest
import seaborn as sns

from core.dataset import CATEGORY_ORDER, DIAMONDS_CSV, TARGET, load_diamonds, split_diamonds


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the dataset must load without any network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_loads_all_diamonds_offline(no_network: None) -> None:
    frame = load_diamonds()

    assert frame.shape == (53_940, 10)
    assert frame[TARGET].mean() == pytest.approx(3932.80, abs=0.01)
    assert not frame.isna().any().any()


def test_grades_are_ordered_worst_to_best(no_network: None) -> None:
    frame = load_diamonds()

    for column, levels in CATEGORY_ORDER.items():
        assert frame[column].cat.ordered
        assert list(frame[column].cat.categories) == levels
    assert frame["cut"].min() == "Fair" and frame["cut"].max() == "Ideal"
    assert frame["clarity"].max() == "IF"


def test_same_values_as_seaborn(tmp_path, no_network: None) -> None:
    # seaborn reads DATA_HOME/diamonds.csv without a download when the file is there.
    with gzip.open(DIAMONDS_CSV, "rb") as source, open(tmp_path / "diamonds.csv", "wb") as target:
        shutil.copyfileobj(source, target)
    theirs = sns.load_dataset("diamonds", data_home=str(tmp_path))
    ours = load_diamonds()

    assert list(theirs.columns) == list(ours.columns)
    for column in theirs.columns:
        if column in CATEGORY_ORDER:
            assert (theirs[column].astype(str) == ours[column].astype(str)).all(), column
        else:
            pd.testing.assert_series_equal(theirs[column], ours[column], check_dtype=False)


def test_split_is_seeded_and_80_20() -> None:
    frame = load_diamonds()
    first, second = split_diamonds(frame, seed=7), split_diamonds(frame, seed=7)
    other = split_diamonds(frame, seed=8)

    assert len(first.X_train) == 43_152 and len(first.X_test) == 10_788
    assert first.X_test.index.equals(second.X_test.index)
    assert not first.X_test.index.equals(other.X_test.index)
    assert TARGET not in first.X_train.columns
    assert first.y_train.index.equals(first.X_train.index)
