"""A small program whose profile is worth looking at: a word-frequency
count over generated text, a recursive Fibonacci, a sort with a key
function, some JSON round trips and a short sleep. Runs in about a second.
"""
from __future__ import print_function

import json
import random
import time


def make_text(words, count):
    rng = random.Random(42)
    return " ".join(rng.choice(words) for _ in range(count))


def count_words(text):
    counts = {}
    for word in text.split():
        word = word.strip(".,").lower()
        counts[word] = counts.get(word, 0) + 1
    return counts


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Inventory:
    def __init__(self, size):
        rng = random.Random(7)
        self.items = [{"name": "item%d" % i, "price": rng.random() * 100} for i in range(size)]

    def most_expensive(self, n):
        return sorted(self.items, key=lambda item: -item["price"])[:n]

    def round_trip(self):
        return json.loads(json.dumps(self.items))


def wait_for_network():
    time.sleep(0.15)


def main():
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    text = make_text(words, 200000)
    counts = count_words(text)
    print("most common word:", max(counts, key=counts.get))
    print("fib(24) =", fib(24))
    inventory = Inventory(50000)
    print("top price: %.2f" % inventory.most_expensive(3)[0]["price"])
    for _ in range(3):
        inventory.round_trip()
    wait_for_network()


if __name__ == "__main__":
    main()
