"""How alike two normalised names are, and which pairs are scored at all (the ladder's `fuzzy`).

The score is the better of two rapidfuzz scores, both 0-100 over the whole name: plain `ratio`
(edit similarity of the names as written) and `ratio` of the names with their words sorted (what
rapidfuzz calls `token_sort_ratio`). Either alone fails one common case: sorting words first means
a typo in a word's first letter moves that word, and the score collapses ("blue vine bakery" /
"blue vine xakery": 56 sorted, 94 plain); comparing as written punishes a swapped word order
("vine blue bakery": 69 plain, 100 sorted). The better of the two keeps both one-letter typos and
swaps, and stays a whole-name score: a name inside a longer one is not a match ("smith" /
"smith and sons": 53), which rapidfuzz's `WRatio` would score 90.

Only pairs that share a block (`names.block_tokens`) are scored, and only customers the contact
may be linked to (the list's organisation, see `matching`): 100,000 × 50,000 names would
otherwise be 5e9 comparisons.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from xero_pipeline.defs.customers.names import block_tokens

# 88 lets in a wrong letter anywhere in names of nine characters or more ("blue vine xakery" 94),
# a dropped or added one in names of four or more ("acme"/"acmee" 89) and swapped words, while
# the sandbox's generated look-alike names, which share words on purpose, mostly stay below
# (7 pairs of 39,060 reach it; a whole word different, "kiwi widgets"/"kiwi gadgets", is 83).
# Candidates only ever go to review, so a near miss costs a person a glance.
FUZZY_THRESHOLD = 88.0
FUZZY_CANDIDATES = 3  # the best few per contact, so the review list stays readable
_CDIST_CELLS = 4_000_000  # the largest score matrix computed at once (bounds memory)


def sorted_words(name: str) -> str:
    return " ".join(sorted(name.split()))


def similarity(a: str, b: str) -> float:
    """The score of two normalised names, rounded to one decimal as review shows it."""
    plain = fuzz.ratio(a, b)
    return round(float(max(plain, fuzz.ratio(sorted_words(a), sorted_words(b)))), 1)


def candidate_scores(
    names: Sequence[str],
    tenants: Sequence[str],
    customers: Sequence[str],
    scopes: Sequence[str | None],
    eligible: Iterable[int],
    threshold: float = FUZZY_THRESHOLD,
) -> dict[int, dict[int, float]]:
    """Scores at or above `threshold`: {contact index: {customer position: score}}.

    `names`, `tenants`: the waiting contacts' normalised names and organisations; `customers`,
    `scopes`: every customer's normalised name and the organisation its list row is for (None:
    any); `eligible`: the customer positions that may still be candidates. A customer is
    compared only with contacts of its own organisation, or with every contact when it has none.
    """
    blocks: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    for pos in eligible:
        for token in block_tokens(customers[pos]):
            blocks[(scopes[pos], token)].append(pos)
    rows: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        for token in block_tokens(name):
            for scope in (None, tenants[i]):
                if (scope, token) in blocks:
                    rows[(scope, token)].append(i)
    sorted_names = [sorted_words(name) for name in names]
    scores: dict[int, dict[int, float]] = defaultdict(dict)
    for block, members in rows.items():
        columns = blocks[block]
        plain = [customers[p] for p in columns]
        by_word = [sorted_words(name) for name in plain]
        step = max(1, _CDIST_CELLS // max(len(columns), 1))
        for start in range(0, len(members), step):
            chunk = members[start : start + step]
            matrix = np.maximum(
                _scores([names[i] for i in chunk], plain, threshold),
                _scores([sorted_names[i] for i in chunk], by_word, threshold),
            )
            for r, c in zip(*np.nonzero(matrix), strict=True):
                scores[chunk[r]][columns[c]] = float(matrix[r, c])
    return scores


def _scores(queries: list[str], choices: list[str], threshold: float) -> np.ndarray:
    """`ratio` of every query with every choice, 0 below the threshold, on every core."""
    return process.cdist(queries, choices, scorer=fuzz.ratio, score_cutoff=threshold, workers=-1)
