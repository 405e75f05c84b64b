def register(worker):
    raise SystemExit(7)
