"""Traditional <-> Simplified Chinese: the desk's glossary first, then OpenCC.

OpenCC converts character by character and phrase by phrase, and gets most text right; names are
where it goes wrong (于东来 becomes 於東來, 余先生 餘先生) or where the desk spells its own way.
The glossary (`glossary.yaml` in the workspace, `[editions] glossary`) lists those names in both
scripts; each is set aside before OpenCC runs and put back as the glossary writes it, so OpenCC
never touches it:

    # The desk's own spellings: applied before OpenCC, in both directions.
    - zh-Hant: 橫琴粵澳深度合作區
      zh-Hans: 横琴粤澳深度合作区
    - zh-Hant: 于東來
      zh-Hans: 于东来

Which OpenCC configuration writes each script is `[editions] to_hans` (default hk2s) and
`to_hant` (default s2hk, Hong Kong usage; s2twp for Taiwan's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Workspace
from ..errors import GbaletterError
from ..fsutil import shown
from .frontmatter import load_yaml

if TYPE_CHECKING:
    import opencc

SCRIPTS = ("zh-Hant", "zh-Hans")
# Private-use characters stand for glossary terms while OpenCC runs: it leaves them alone, and
# no text the desk writes holds them.
_FIRST_STAND_IN = 0xE000
_MAX_TERMS = 6400  # the Private Use Area of the Basic Multilingual Plane


@dataclass(frozen=True)
class Glossary:
    """The desk's names as each script writes them: (Traditional, Simplified) pairs."""

    pairs: tuple[tuple[str, str], ...] = ()

    def terms(self, script: str) -> list[tuple[str, str]]:
        """(as `script` writes it, as the other script does), longest first (so a longer name
        wins over a name inside it)."""
        index = SCRIPTS.index(script)
        found = [(pair[index], pair[1 - index]) for pair in self.pairs]
        return sorted(found, key=lambda term: -len(term[0]))


def load_glossary(path: Path) -> Glossary:
    """The glossary file; none there is an empty glossary. Mistakes name the file (and line)."""
    if not path.is_file():
        return Glossary()
    where = shown(path)
    data = load_yaml(path.read_text(encoding="utf-8"), where)
    if data is None:
        return Glossary()
    if not isinstance(data, list):
        raise GbaletterError(f"{where}: must be a list of entries, each with zh-Hant and zh-Hans")
    pairs = []
    for number, entry in enumerate(data, start=1):
        if (not isinstance(entry, dict) or set(entry) != set(SCRIPTS)
                or not all(isinstance(entry[key], str) and entry[key].strip() for key in SCRIPTS)):
            raise GbaletterError(f"{where}: entry {number} must have exactly zh-Hant and zh-Hans, "
                                 f"each a name, not {entry!r}")
        pairs.append((entry["zh-Hant"].strip(), entry["zh-Hans"].strip()))
    if len(pairs) > _MAX_TERMS:
        raise GbaletterError(f"{where}: more than {_MAX_TERMS} entries")
    return Glossary(tuple(pairs))


@cache
def _opencc(configuration: str) -> opencc.OpenCC:
    import opencc  # here: a build in one script, or in English, never converts (~10 ms)

    return opencc.OpenCC(configuration)


class ScriptConverter:
    """Writes a text of one Chinese script in the other, the glossary's names as it spells them."""

    def __init__(self, glossary: Glossary, to_hans: str = "hk2s", to_hant: str = "s2hk"):
        self.glossary = glossary
        self.configurations = {"zh-Hans": to_hans, "zh-Hant": to_hant}
        self._patterns = {}
        for script in SCRIPTS:
            terms = glossary.terms(script)
            self._patterns[script] = (re.compile("|".join(re.escape(term) for term, _ in terms)) if terms
                                      else None, {term: target for term, target in terms})

    def configuration(self, target: str) -> str:
        """The OpenCC configuration that writes `target` ("hk2s", ...)."""
        return self.configurations[target]

    def convert(self, text: str, target: str) -> str:
        """`text`, written in the script other than `target`, written in `target`."""
        source = SCRIPTS[1 - SCRIPTS.index(target)]
        pattern, spelled = self._patterns[source]
        kept: list[str] = []

        def stand_in(match: re.Match[str]) -> str:
            kept.append(spelled[match.group()])
            return chr(_FIRST_STAND_IN + len(kept) - 1)

        marked = pattern.sub(stand_in, text) if pattern is not None else text
        converted = _opencc(self.configurations[target]).convert(marked)
        if not kept:
            return converted
        return re.sub(f"[{chr(_FIRST_STAND_IN)}-{chr(_FIRST_STAND_IN + len(kept) - 1)}]",
                      lambda match: kept[ord(match.group()) - _FIRST_STAND_IN], converted)


def workspace_converter(ws: Workspace) -> ScriptConverter:
    """The converter `[editions]` sets up: the workspace's glossary, its OpenCC configurations."""
    editions = ws.config.editions
    return ScriptConverter(load_glossary(ws.glossary_path), editions.to_hans, editions.to_hant)
