"""``python -m voicectl`` is the same as the ``voicectl`` console script."""

from voicectl.cli.entry import main

main()
