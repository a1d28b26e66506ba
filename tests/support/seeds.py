"""The seed of a randomized test: a failure names it, and GBALETTER_TEST_SEED replays it."""

from __future__ import annotations

import os
import random

SEED_VARIABLE = "GBALETTER_TEST_SEED"


def run_seed() -> int:
    """GBALETTER_TEST_SEED if set (to replay a failure's choices), else a new random seed."""
    given = os.environ.get(SEED_VARIABLE, "")
    return int(given) if given else random.randrange(1_000_000)
