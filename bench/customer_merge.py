"""How long the customer merge's plan takes for 100,000 existing customers × 50,000 Xero customers.

The plan is the whole of the merge's work apart from reading and writing the warehouse: name
keys at three levels, the ladder, fuzzy candidates (rapidfuzz, within blocks), decisions, and
the rows of `customers` and `customer_match_review`. The names are synthetic, from a vocabulary
of a few thousand made-up words (so names share words and blocks, as real ones do): 60% of the
Xero customers are spellings of existing customers (as written, case and spacing, another legal
suffix, punctuation, a one-letter typo, a second contact with the same name), 40% are new.

Run: `.venv/bin/python bench/customer_merge.py` (about a minute). Prints a Markdown section for
bench/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import time
from collections import Counter
from datetime import UTC, date, datetime

from xero_pipeline.defs.customers.matching import XeroCustomer
from xero_pipeline.defs.customers.plan import MergePlan, build_plan
from xero_pipeline.defs.customers.source import ListedCustomer

EXISTING, XERO, RUNS, TARGET_S = 100_000, 50_000, 5, 10.0
VOCABULARY = 8_000  # draws of made-up words; the distinct ones make the vocabulary
TENANTS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
SYLLABLES = [
    "ka",
    "ri",
    "ta",
    "mo",
    "na",
    "le",
    "vi",
    "so",
    "pe",
    "lu",
    "ma",
    "ro",
    "ti",
    "ne",
    "ha",
    "wa",
    "ki",
    "po",
    "se",
    "da",
    "bel",
    "cor",
    "fin",
    "gar",
    "hol",
    "lin",
    "mar",
    "nor",
    "pen",
    "ros",
    "sil",
    "tor",
    "val",
    "wes",
]
TRADES = ("Plumbing", "Design", "Bakery", "Builders", "Studio", "Cafe", "Logistics", "Media")
SUFFIXES = ("Ltd", "Limited", "Pty Ltd", "LLC", "Inc", "& Co", "", "", "")


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def synthetic(seed: int = 1) -> tuple[list[ListedCustomer], list[XeroCustomer]]:
    rng = random.Random(seed)
    vocabulary = sorted({word(rng) for _ in range(VOCABULARY)})
    existing = [
        ListedCustomer(
            f"C{i:06d}",
            f"{rng.choice(vocabulary)} {rng.choice(vocabulary)} {rng.choice(TRADES)} "
            f"{rng.choice(SUFFIXES)}".strip(),
        )
        for i in range(EXISTING)
    ]
    contacts = []
    for i in range(XERO):
        if i < XERO * 6 // 10:
            name = variant(rng.choice(existing).name, rng)
        else:
            name = f"{rng.choice(vocabulary)} {rng.choice(vocabulary)} {rng.choice(TRADES)}"
        contacts.append(XeroCustomer(TENANTS[i % 2], f"x{i:06d}", name))
    return existing, contacts


def variant(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.40:
        return name
    if roll < 0.55:
        return name.upper() if roll < 0.48 else f" {name.lower()}  "
    if roll < 0.75:
        return f"{name.removesuffix(' Ltd').removesuffix(' Limited')} Limited"
    if roll < 0.85:
        return name.replace(" ", ", ", 1) + "."
    if roll < 0.95:
        at = rng.randrange(1, len(name))
        return name[:at] + rng.choice("aeiou") + name[at + 1 :]
    return name  # a second contact with the name: ambiguous


def timed(
    existing: list[ListedCustomer], contacts: list[XeroCustomer], current: list[dict]
) -> tuple[float, MergePlan]:
    started = time.perf_counter()
    plan = build_plan(current, existing, contacts, now=datetime.now(UTC))
    return time.perf_counter() - started, plan


def main() -> None:
    existing, contacts = synthetic()
    vocabulary = len({w for c in existing for w in c.name.split()[:2]})
    first_runs, plan = [], None
    for _ in range(RUNS):
        seconds, plan = timed(existing, contacts, [])
        first_runs.append(seconds)
    assert plan is not None
    current = [dict(row) for row in plan.customers]  # the table after the first merge
    again_runs = [timed(existing, contacts, current)[0] for _ in range(RUNS)]
    first, again = statistics.median(first_runs), statistics.median(again_runs)
    actions = Counter(o.action for o in plan.outcomes)
    methods = plan.links_by_method
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"""
## Customer merge: the plan for 100,000 existing × 50,000 Xero customers

{date.today()}, commit {commit}, {platform.machine()} ({platform.processor() or "cpu"}, {os.cpu_count()} cores),
CPython {platform.python_version()}. Medians of {RUNS} runs of `build_plan` (names, ladder, fuzzy
candidates, rows), synthetic names from a vocabulary of {vocabulary:,} made-up words.

| figure | value | compared with | ratio |
|---|---|---|---|
| first merge (nothing linked yet) | {first:.1f} s (min {min(first_runs):.1f}, max {max(first_runs):.1f}) | target ≤ {TARGET_S:.0f} s | {first / TARGET_S:.2f} |
| merge again (links in place) | {again:.1f} s (min {min(again_runs):.1f}, max {max(again_runs):.1f}) | same | {again / TARGET_S:.2f} |

What the first merge decided: {actions["link"]:,} links (exact {methods.get("exact", 0):,}, folded
{methods.get("folded", 0):,}, normalised {methods.get("normalised", 0):,}), {actions["review"]:,}
contacts to review ({len(plan.review):,} candidate pairs), {actions["new"]:,} new customers.

How measured: `bench/customer_merge.py`, in one process, warehouse I/O excluded (reading and
publishing 150,000 rows is the publish path's, measured with the rest of the pipeline). Fuzzy
candidates are scored only within blocks (a shared word among the first two, or the first four
letters, or the last four of a one-word name), as the better of `ratio` and `token_sort_ratio`,
with `rapidfuzz.process.cdist` on every core.
""")


if __name__ == "__main__":
    main()
