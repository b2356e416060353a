"""``python -m genmatch``."""

import sys

from genmatch.cli import main

sys.exit(main())
