"""``python -m reactor``: the container entry point of the reactor."""

from reactor.main import main

main()
