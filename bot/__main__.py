"""``python -m bot`` runs the ``infoshare`` command line."""

from bot.cli import main

main()
