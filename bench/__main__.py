"""Run one benchmark by name, or all of them in turn."""

import importlib
import sys

NAMES = ("startup", "build", "send", "subscribers", "bounces", "web", "postgres")


def main(argv: list[str]) -> None:
    names = argv[:1] or list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(NAMES)}")
    for name in names:
        importlib.import_module(f"bench.{name}").main(argv[1:])


main(sys.argv[1:])
