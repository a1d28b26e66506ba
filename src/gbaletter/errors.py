"""The one exception type the CLI turns into a clear message and a non-zero exit.

Core code raises `GbaletterError` for every problem caused by input (files, addresses, settings,
servers); anything else escaping is a bug and keeps its traceback. A message about a value in a
file names the file and the line it stands on (`line_of`, `at_line`).
"""

import re



class GbaletterError(Exception):
    """A problem the user can fix; `str()` is the message shown, one line per problem."""

    exit_code = 1


class NothingToDo(GbaletterError):
    """The command was valid but found nothing to act on (e.g. a week without content)."""

    exit_code = 2


class PartlyDone(GbaletterError):
    """The command did its work but left some input out (rejected rows, skipped feed entries):
    a script must not take it for complete success."""

    exit_code = 3


def line_of(text: str, pattern: str, after: int = 0) -> int:
    """The number (from 1) of the first line after line `after` that begins, past its
    indentation, with the regular expression `pattern` (a YAML `lang:`, a TOML `languages =`);
    0 when none does. A message about a bad value names the line it stands on with it."""
    start = re.compile(rf"\s*(?:{pattern})")
    for number, line in enumerate(text.splitlines()[after:], start=after + 1):
        if start.match(line):
            return number
    return 0


def at_line(where: str, line: int) -> str:
    """`file:line`, or `file` alone when the line is not known (0)."""
    return f"{where}:{line}" if line else where
