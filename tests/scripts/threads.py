"""Threads writing output; the main thread joins them."""
import sys
import threading

results = []


def work(n):
    total = 0
    for i in range(20000 * (n + 1)):
        total += i
    results.append((n, total))


threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(results))
