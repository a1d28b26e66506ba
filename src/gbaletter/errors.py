"""The one exception type the CLI turns into a clear message and a non-zero exit.

Core code raises `GbaletterError` for every problem caused by input (files, addresses, settings,
servers); anything else escaping is a bug and keeps its traceback.
"""


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
