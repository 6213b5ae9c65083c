"""``python -m core reference``: a version's reference data profiled and attached in MLflow (never in its own run)."""

import re

from core import mlflow_io
from core.dataset import load_diamonds
from core.mlflow_io.registry import REFERENCE_TAG

INPUTS = "carat, cut, color, clarity, depth, table, x, y …"


def test_a_file_becomes_the_versions_reference_without_its_target(cli, registry_home, tmp_path) -> None:
    source = tmp_path / "validation.csv"
    load_diamonds().sample(500, random_state=1).to_csv(source, index=False)
    own_run = mlflow_io.get_version(registry_home, version=2).run_id

    ran = cli("reference", "--version", "2", "--input", str(source), "--target", "price")

    assert ran.code == 0, ran.err
    assert f"diamond-price v2: reference from validation.csv, 500 rows, 9 inputs ({INPUTS})" in ran.out
    assert "only 500 rows" not in ran.out
    (run_id,) = re.findall(r"stored in run (\w+);", ran.out)
    version = mlflow_io.get_version(registry_home, version=2)
    assert version.tags[REFERENCE_TAG] == run_id != own_run
    profile = mlflow_io.load_profile(registry_home, run_id=run_id)
    assert profile.row_count == 500 and profile.target == "price" and "price" not in profile.features
    assert REFERENCE_TAG not in mlflow_io.get_version(registry_home, version=1).tags


def test_without_a_file_the_models_input_example_is_used_and_called_thin(cli, registry_home) -> None:
    ran = cli("reference", "--version", "1")

    assert ran.code == 0, ran.err
    assert "diamond-price v1: reference from the model's input example, 5 rows" in ran.out
    assert "only 5 rows (fewer than 100): drift tests will say little" in ran.out
    assert "--input FILE" in ran.out


def test_what_cannot_be_a_reference_is_refused_in_one_line(cli, registry_home, tmp_path) -> None:
    partial = tmp_path / "partial.csv"
    load_diamonds().drop(columns=["carat", "x"]).head(50).to_csv(partial, index=False)
    text = tmp_path / "notes.txt"
    text.write_text("carat\n1\n")

    no_version = cli("reference", "--version", "99", "--input", str(partial))
    missing_inputs = cli("reference", "--version", "1", "--input", str(partial))
    wrong_format = cli("reference", "--version", "1", "--input", str(text))
    no_file = cli("reference", "--version", "1", "--input", str(tmp_path / "nope.csv"))

    assert no_version.code == 1 and "version 99 of diamond-price does not exist" in no_version.err
    assert missing_inputs.code == 1 and "lacks 2 input(s) version 1 takes: carat, x" in missing_inputs.err
    assert wrong_format.code == 1 and "notes.txt: reference data must be a .csv or .parquet file" in wrong_format.err
    assert no_file.code == 1 and "nope.csv: no such file" in no_file.err
    for ran in (no_version, missing_inputs, wrong_format, no_file):
        assert ran.err.startswith("error: ") and ran.err.count("\n") == 1
    assert REFERENCE_TAG not in mlflow_io.get_version(registry_home, version=1).tags
