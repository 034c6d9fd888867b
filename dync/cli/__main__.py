"""``python -m dync.cli``: the command line."""

from . import main

main()
