"""Subcommands of ``python -m core``: each module has HELP, add_arguments(parser) and run(args)."""
