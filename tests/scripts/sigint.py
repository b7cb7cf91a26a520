"""Prints 'ready', then sleeps until interrupted."""
import sys
import time


def wait_forever():
    while True:
        time.sleep(0.01)


print("ready")
sys.stdout.flush()
wait_forever()
