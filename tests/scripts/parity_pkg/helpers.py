def fail():
    raise LookupError("raised inside the package")
