"""``python -m core ledger``: every alias change, oldest first, as a table or CSV; outside changes recorded first."""

import io

import pandas as pd

from tests.ledger_rows import moves


def test_the_ledger_lists_every_change_oldest_first_as_csv_or_a_table(cli, registry_home) -> None:
    assert cli("promote", "--version", "2", "--alias", "champion", "--reason", "rf is fine").code == 0
    assert cli("rollback", "--alias", "champion", "--reason", "changed my mind").code == 0

    as_csv = cli("ledger", "--csv")
    champion_only = cli("ledger", "--alias", "champion", "--csv")
    as_table = cli("ledger")

    assert as_csv.code == champion_only.code == as_table.code == 0
    lines = as_csv.out.strip().splitlines()
    assert lines[0].startswith("id,when (UTC),alias,from,to,who,origin")
    frame = pd.read_csv(io.StringIO(as_csv.out), dtype=str, keep_default_na=False)
    assert frame[["alias", "from", "to", "origin"]].values.tolist() == [
        ["champion", "none", "1", "bootstrap"],
        ["challenger", "none", "2", "bootstrap"],
        ["champion", "1", "2", "cli"],
        ["champion", "2", "1", "rollback"],
    ]
    assert "rf is fine" in as_csv.out and "changed my mind" in as_csv.out
    assert set(pd.read_csv(io.StringIO(champion_only.out))["alias"]) == {"champion"}
    assert len(pd.read_csv(io.StringIO(champion_only.out))) == 3
    table = as_table.out.splitlines()
    assert "alias" in table[0] and "origin" in table[0] and len(table) == 5
    assert " none " in table[1] and "None" not in as_table.out  # the first champion came from nothing, in words


def test_a_change_made_outside_loupe_is_recorded_once_when_the_ledger_is_read(cli, registry_home) -> None:
    from core import mlflow_io

    mlflow_io.set_alias(registry_home, alias="canary", version=1)

    first = cli("ledger", "--csv")
    second = cli("ledger", "--csv")

    assert first.out == second.out
    outside = pd.read_csv(io.StringIO(first.out), dtype=str).query("origin == 'external'")
    assert outside[["alias", "to", "who"]].values.tolist() == [["canary", "1", "outside Loupe"]]
    assert moves(registry_home)[-1] == ("canary", None, 1)


def test_an_empty_ledger_says_how_to_make_an_entry_and_a_bad_alias_is_refused(cli) -> None:
    empty = cli("ledger")
    bad = cli("ledger", "--alias", "has space")

    assert empty.code == 0
    assert empty.out.startswith("no alias change on record for diamond-price") and "python -m core promote" in empty.out
    assert bad.code == 1 and "1–64 letters" in bad.err


def test_ledger_csv_writes_a_reason_that_looks_like_a_formula_as_text(cli, registry_home) -> None:
    reason = '=HYPERLINK("http://127.0.0.1:9/x","click")'
    assert cli("promote", "--version", "2", "--alias", "champion", "--reason", reason).code == 0

    written = pd.read_csv(io.StringIO(cli("ledger", "--csv").out), dtype=str, keep_default_na=False)

    assert written["reason"].iloc[-1] == "'" + reason
    assert written["id"].str.fullmatch(r"\d+").all()  # numbers stay numbers
