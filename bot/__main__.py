"""`python -m bot` is the `qa-bot` command."""

import sys

from .cli import main

sys.exit(main())
