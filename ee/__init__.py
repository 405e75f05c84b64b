"""The ``ee`` command line and the embedded stack it can start."""
