"""The base class of errors caused by the user's input."""


class D3LError(Exception):
    """A problem with a file, a config or a checkpoint that the message
    explains fully (it names the file and what is wrong). The command-line
    tools print it as one line and exit with code 2 instead of showing a
    traceback (set ``D3L_DEBUG=1`` to see the traceback)."""
