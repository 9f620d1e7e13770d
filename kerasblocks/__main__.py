"""`python -m kerasblocks` runs the command line, like the `kerasblocks` script."""

import sys

from kerasblocks.cli import main

sys.exit(main())
