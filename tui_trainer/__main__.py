"""`python -m tui_trainer` (and `torchrun -m tui_trainer`) is the `tui-trainer` command."""

import sys

from .cli import main

sys.exit(main())
