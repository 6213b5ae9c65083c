import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")

    assert result.returncode == 0
    assert "train" in result.stdout and "bootstrap" in result.stdout


def test_bad_hyperparameter_is_a_clean_error() -> None:
    result = run_cli("train", "--estimator", "ridge", "--n-estimators", "5")

    assert result.returncode == 1
    assert "n_estimators is not a hyperparameter of ridge" in result.stderr
    assert "Traceback" not in result.stderr
