"""A fixture package for `-m`: `python -m parity_pkg`."""
PACKAGE_CONSTANT = 42
