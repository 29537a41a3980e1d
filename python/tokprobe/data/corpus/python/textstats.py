#!/usr/bin/env python3
"""Word statistics for text files: counts, n-grams and a simple readability score."""

import re
import sys
from collections import Counter
from functools import lru_cache
from itertools import islice

WORD = re.compile(r"[A-Za-z']+")
SENTENCE_END = re.compile(r"[.!?]+")
VOWELS = "aeiouy"


@lru_cache(maxsize=4096)
def syllables(word):
    word = word.lower().strip("'")
    if not word:
        return 0
    count, previous = 0, False
    for ch in word:
        is_vowel = ch in VOWELS
        if is_vowel and not previous:
            count += 1
        previous = is_vowel
    if word.endswith("e") and count > 1:
        count -= 1
    return max(count, 1)


def words(text):
    return [w.lower() for w in WORD.findall(text)]


def ngrams(tokens, n=2):
    iters = [islice(tokens, i, None) for i in range(n)]
    return zip(*iters)


def flesch(text):
    ws = words(text)
    sentences = max(1, len([s for s in SENTENCE_END.split(text) if s.strip()]))
    if not ws:
        return None
    syl = sum(syllables(w) for w in ws)
    return 206.835 - 1.015 * (len(ws) / sentences) - 84.6 * (syl / len(ws))


class Report:
    def __init__(self, name, text, top=10):
        self.name = name
        self.tokens = words(text)
        self.top = top
        self.score = flesch(text)

    def most_common(self):
        return Counter(self.tokens).most_common(self.top)

    def bigrams(self):
        return Counter(ngrams(self.tokens, 2)).most_common(self.top)

    def __str__(self):
        lines = [f"== {self.name}: {len(self.tokens)} words"]
        if self.score is not None:
            lines.append(f"readability: {self.score:.1f}")
        for word, n in self.most_common():
            lines.append(f"  {word:<15}{n:>6}")
        for (a, b), n in self.bigrams():
            lines.append(f"  {a} {b}".ljust(21) + f"{n:>6}")
        return "\n".join(lines)


def main(paths):
    if not paths:
        print("usage: textstats.py FILE...", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(Report(path, text))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
