"""``python -m quizd.loadgen``: the same as the ``quizd-load`` command."""

import sys

from quizd.loadgen.cli import main

sys.exit(main())
