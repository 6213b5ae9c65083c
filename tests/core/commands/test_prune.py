"""``python -m core prune``: rolls up, removes raw rows older than the retention period, says what it removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import get_settings
from tests.monitoring_traffic import seed_traffic


def test_prune_removes_old_rows_and_says_how_many(cli, registry_home, monkeypatch) -> None:
    seed_traffic(registry_home, rows=300, start=datetime.now(UTC) - timedelta(days=20), hours=3, shift=1.0, seed=1)
    seed_traffic(registry_home, rows=100, start=datetime.now(UTC) - timedelta(days=3), hours=3, shift=1.0, seed=2)

    unset = cli("prune")
    by_flag = cli("prune", "--days", "30")  # nothing that old
    monkeypatch.setenv("LOUPE_RETENTION_DAYS", "7")
    get_settings.cache_clear()
    by_setting = cli("prune")
    again = cli("prune")

    assert unset.code == 1 and "set LOUPE_RETENTION_DAYS or pass --days" in unset.err
    assert by_flag.code == 0 and "400 predictions" in by_flag.out and "removed" in by_flag.out
    assert "0 predictions (with their inputs)" in by_flag.out
    assert by_setting.code == 0, by_setting.err
    assert "300 predictions (with their inputs)" in by_setting.out
    assert again.code == 0 and "0 predictions (with their inputs)" in again.out


def test_prune_refuses_a_period_under_a_day(cli, registry_home) -> None:
    result = cli("prune", "--days", "0")
    assert result.code == 1 and "--days must be at least 1" in result.err
