"""``python -m executor``: the container entry point of the executor."""

from executor.main import main

main()
