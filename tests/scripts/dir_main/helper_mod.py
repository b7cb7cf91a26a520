VALUE = "helper importable from the directory"
