"""premailer without paying for the HTTP clients: `from .offline_premailer import Premailer`.

premailer imports `requests` at its top (with urllib3, ssl and the http stack: ~75 ms of CPU, a
quarter of a `gbaletter issue build`) for one thing, downloading linked style sheets, which a
build never does (`allow_network=False`: builds are offline). cssutils, which premailer parses
CSS with, does the same for its own URL fetcher: `urllib.request` (http.client, ssl, the email
package), `importlib.metadata` (its version, for a User-Agent) and `encutils` (html.parser), and
first tries a Google App Engine fetcher whose module imports the email package before failing
on `google.appengine` (~70 million instructions, 5% of a build, for the lot).

premailer and cssutils only keep a reference to these modules until they would download
something, so each is registered here as a stand-in that imports the real module the first time
any of its attributes is used, by whatever code in the process uses it, and hands that attribute
on. (The standard library's `importlib.util.LazyLoader` cannot do this: the `import` statement
itself reads the module's `__spec__`, which executes it.) The App Engine module is registered as
missing, which is what importing it finds without App Engine (and a build fetches nothing with
it anyway). The email premailer writes is the same to the byte; `tests/test_startup.py` checks
that a build loads no HTTP client. A stand-in is not the module: patching an attribute of it (a
test's `monkeypatch` or `mock.patch` of `urllib.request.urlopen`, say) does not reach the real
module that code calling it gets, and `importlib.util.find_spec` of it fails until the real
module is loaded; a test that patches these must import the real module first.
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
            sys.modules.pop(self.__name__, None)  # (two threads may both get here)
        return getattr(importlib.import_module(self.__name__), attribute)


def _register_on_use(name: str) -> None:
    """Put a stand-in for `name` in `sys.modules`, and for a submodule on its package too, as
    `import a.b` would (unless it is imported already, or not installed: then `import` behaves as
    always). Importing the real module later puts it in both places."""
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = stand_in = _ImportedOnUse(name)
        package, _, attribute = name.rpartition(".")
        if package:
            setattr(sys.modules[package], attribute, stand_in)


for _name in ("requests", "urllib.request", "importlib.metadata", "encutils"):
    _register_on_use(_name)
sys.modules.setdefault("cssutils._fetchgae", None)  # type: ignore[arg-type]  # importing it: ImportError

from premailer import Premailer  # noqa: E402  (after the stand-ins are registered)

__all__ = ["Premailer"]
