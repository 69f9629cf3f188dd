"""`python -m bot` is the `qa-bot` command."""

import sys

from .cli import main

if __name__ == "__main__":  # worker processes (spawned to parse documents) import this module too
    sys.exit(main())
