"""`python -m quizd` is the same program as the `quizd` console script."""

from quizd.cli import main

raise SystemExit(main())
