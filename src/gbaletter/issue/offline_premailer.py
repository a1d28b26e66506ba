"""premailer without paying for its HTTP client: `from .offline_premailer import Premailer`.

premailer imports `requests` at its top (with urllib3, ssl and the http stack: ~75 ms of CPU, a
quarter of a `gbaletter issue build`) for one thing, downloading linked style sheets, which a
build never does (`allow_network=False`: builds are offline). premailer only keeps a reference
to the module (`session or requests`) until it would download something, so `requests` is
registered here as a stand-in that imports the real package the first time any of its
attributes is used, by whatever code in the process uses it, and hands that attribute on. (The
standard library's `importlib.util.LazyLoader` cannot do this: the `import` statement itself
reads the module's `__spec__`, which executes it.) The email premailer writes is the same to the
byte; `tests/test_startup.py` checks that a build loads no HTTP client.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _ImportedOnUse(types.ModuleType):
    """Stands in for a module in `sys.modules` until one of its attributes is asked for."""

    def __getattr__(self, attribute: str) -> object:  # called only for what the stand-in lacks
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def _register_on_use(name: str) -> None:
    """Put a stand-in for `name` in `sys.modules` (unless it is imported already, or not installed:
    then `import` behaves as always)."""
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _ImportedOnUse(name)


_register_on_use("requests")

from premailer import Premailer  # noqa: E402  (after the stand-in is registered)

__all__ = ["Premailer"]
