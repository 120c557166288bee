"""The ``rnnlab`` command. Thin: the work is done by the library.

``parser`` declares every command and option; ``arguments`` parses an option's text;
``checks`` refuses, before any work, what cannot run (exit code 2, one line on stderr naming
the option); ``commands`` calls the library and prints.
"""

from __future__ import annotations

import os
import sys

from rnnlab.cli.checks import UsageError
from rnnlab.cli.parser import build_parser

__all__ = ["main", "build_parser"]


def main(argv=None) -> int:
    """Run the ``rnnlab`` command; bad input exits with code 2 and one line on stderr."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as err:
        print(err.message, file=sys.stderr, flush=True)
        raise
    except BrokenPipeError:  # the reader went away (rnnlab predict ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)  # as Python's docs on SIGPIPE advise
        os.dup2(devnull, sys.stdout.fileno())
        return 1
