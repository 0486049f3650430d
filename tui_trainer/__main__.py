"""`python -m tui_trainer` (and `torchrun -m tui_trainer`) is the `tui-trainer` command.

`python -m` puts the current folder first on `sys.path`. Every detached run, detached sweep and
`--serve` tab starts this way, often from a folder someone else filled (a run folder, a download):
an `evilmod.py` (or a `torch.py`) there would be imported as code. So that entry goes before
anything else of the package is imported; a preset's own folder is searched only for its
`model.target` (see `tui_trainer.config.code_trust`).
"""

import os
import sys

if sys.path and not sys.flags.safe_path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from .cli import main

sys.exit(main())
