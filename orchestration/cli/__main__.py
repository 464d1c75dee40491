"""`python -m orchestration.cli` is `warecast`."""

import sys

from orchestration.cli import main

sys.exit(main())
