"""`python -m retab_sim`: the same as `retab-warehouse simulate`."""

from __future__ import annotations

import argparse
import sys

from retab_sim.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(prog="python -m retab_sim", description="Serve the Retab API simulator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
