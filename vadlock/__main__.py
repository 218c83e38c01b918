"""`python -m vadlock` is the `vadlock` command."""

import sys

from vadlock.cli import main

sys.exit(main())
