"""`python -m keyplane`: the same as the `keyplane` command."""

from keyplane.cli import main

main()
