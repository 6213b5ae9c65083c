"""The command line itself: one subcommand per module in core/commands, help, usage errors, error lines."""

from pathlib import Path

import pytest

from core.cli import COMMANDS_PACKAGE, build_parser, command_modules, main

# One file per command in core/commands (``_`` files are helpers); each has its test file beside this one.
COMMANDS = sorted(path.stem for path in COMMANDS_PACKAGE.glob("[!_]*.py"))
DOCUMENTED = {"bootstrap", "drift", "feedback", "ledger", "promote", "rollback", "score", "simulate", "train"}


def test_every_command_module_is_a_subcommand_with_its_own_tests() -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices

    assert DOCUMENTED <= set(COMMANDS)
    assert list(command_modules()) == list(subcommands) == COMMANDS
    assert all(module == f"core.commands.{name}" for name, module in command_modules().items())
    tests = Path(__file__).parent
    assert [name for name in COMMANDS if not (tests / f"test_{name}.py").exists()] == []


def test_help_lists_the_commands_with_their_help(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "usage: python -m core" in out and "--traceback" in out
    for name in COMMANDS:
        assert name in out
    assert "Move an alias to a model version behind the pre-flight checks" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_its_own_help(name, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m core {name}")


def test_usage_errors_exit_2_and_say_what_is_missing(capsys) -> None:
    with pytest.raises(SystemExit) as no_command:
        main([])
    assert no_command.value.code == 2 and "the following arguments are required: COMMAND" in capsys.readouterr().err

    with pytest.raises(SystemExit) as no_version:
        main(["promote", "--alias", "champion", "--reason", "r"])
    assert no_version.value.code == 2 and "--version" in capsys.readouterr().err

    with pytest.raises(SystemExit) as unknown:
        main(["score", "--input", "a.csv", "--output", "b.csv", "--colour", "red"])
    assert unknown.value.code == 2 and "unrecognized arguments: --colour red" in capsys.readouterr().err


def test_parsed_arguments_reach_the_command() -> None:
    args = build_parser().parse_args(["train", "--estimator", "rf", "--n-estimators", "5", "--no-log-target"])

    assert (args.command, args.estimator, args.n_estimators, args.log_target) == ("train", "rf", 5, False)
    assert args.run.__module__ == "core.commands.train"


def test_an_unexpected_error_is_one_line_unless_the_trace_is_asked_for(capsys) -> None:
    # scikit-learn refuses max_iter=0 when the fit starts; the command does not catch that itself.
    code = main(["train", "--estimator", "hgb", "--max-iter", "0", "--no-register"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: InvalidParameterError: ") and "max_iter" in err
    assert err.rstrip().endswith("(run with --traceback for the details)") and err.count("\n") == 1

    with pytest.raises(ValueError, match="max_iter"):
        main(["--traceback", "train", "--estimator", "hgb", "--max-iter", "0", "--no-register"])
