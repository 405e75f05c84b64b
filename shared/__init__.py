"""What the reactor, the executor, the worker SDK and the CLI all need."""
