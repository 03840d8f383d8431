"""`python -m flow.cli` runs the `rubicon` command."""
import sys

from flow.cli import main

sys.exit(main())
