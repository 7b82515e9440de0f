"""`python -m pipelines.cli`: the same as the `retab-warehouse` command."""

from pipelines.cli import main

raise SystemExit(main())
