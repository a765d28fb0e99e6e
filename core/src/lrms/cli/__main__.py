"""``python -m lrms.cli``: the same as the ``lrms`` command."""

import sys

from . import main

sys.exit(main())
