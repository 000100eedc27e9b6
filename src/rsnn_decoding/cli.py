"""The `rsnn-decoding` command line: one subcommand per package module that offers one."""

from __future__ import annotations

import argparse
import importlib
import sys

from rsnn_decoding import __version__
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

# Modules that contribute subcommands through register_cli(subparsers).
CLI_MODULES = (
    "data.simulate",
    "data.download",
    "data.preprocess",
    "evaluation.ridge",
    "training.check",
    "evaluation.jobs",
    "bench",
    "bench_memory",
    "bench_eval",
    "reporting.cost",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every module's subcommands."""
    parser = argparse.ArgumentParser(
        prog="rsnn-decoding",
        description="Recurrent spiking neural network decoders of finger velocity (BioCAS 2024 reproduction).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in CLI_MODULES:
        module = importlib.import_module(f"rsnn_decoding.{name}")
        register = getattr(module, "register_cli", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    setup_logging(None)
    return int(run_cli(args.func, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
