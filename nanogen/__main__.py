"""`python -m nanogen` is the `nanogen` command."""

import sys

from .cli import main

sys.exit(main())
