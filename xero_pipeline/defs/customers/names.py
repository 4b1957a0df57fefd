"""How two spellings of a business's name are recognised as the same name.

Three keys, each looser than the one before; the merge tries them in this order and records which
one matched (`match_method`):

- `exact`: the name as written.
- `folded`: case and whitespace folded ("ACME  ltd " → "acme ltd"); nothing else changes.
- `normalised`: also accents dropped ("Café" → "cafe"), "&" read as "and", apostrophes and full
  stops removed ("O'Brien" → "obrien", "L.L.C." → "llc"), other punctuation read as a space, and
  trailing legal suffixes removed ("Kiwi Widgets Pty Ltd" → "kiwi widgets").

"& Co" is **not** a suffix: "Smith & Co" is a partnership's name, and a customer called just
"Smith" may well be someone else. So "and co" / "and company" stay ("Smith & Co" and "Smith and
Co" both become "smith and co"), while a bare trailing "Co" or "Company" goes ("100% Pure Juice
Co." and "100% Pure Juice Company" both become "100 pure juice"). A name is never stripped to
nothing: its first word always stays ("Limited Editions Ltd" → "limited editions").
"""

from __future__ import annotations

import unicodedata

LEGAL_SUFFIXES = frozenset(
    {
        "ltd",
        "limited",
        "llc",
        "inc",
        "incorporated",
        "pty",
        "proprietary",
        "gmbh",
        "ag",
        "co",
        "company",
        "corp",
        "corporation",
        "plc",
        "llp",
        "lp",
    }
)
# Suffixes that are part of the name when "and" comes before them ("Smith & Co").
PARTNERSHIP_WORDS = frozenset({"co", "company"})
# Words too common to say anything about which names are worth comparing (see `block_tokens`).
STOPWORDS = frozenset({"the", "and", "of", "a", "an"})
_DROPPED = frozenset("'’‘`´.")  # O'Brien → obrien, L.L.C. → llc


def exact_key(name: str | None) -> str:
    return name or ""


def folded_key(name: str | None) -> str:
    """Case and whitespace folded: what a person would not call a different spelling at all."""
    return " ".join(unicodedata.normalize("NFC", name or "").casefold().split())


def tokens(name: str | None) -> list[str]:
    """The words of a name after accent, case, "&" and punctuation folding, suffixes kept."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    out = []
    for ch in text.replace("&", " and "):
        if ch in _DROPPED:
            continue
        out.append(ch if ch.isalnum() else " ")
    return "".join(out).split()


def strip_suffixes(words: list[str]) -> list[str]:
    words = list(words)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        if words[-1] in PARTNERSHIP_WORDS and words[-2] == "and":
            break
        words.pop()
    return words


def normalised_key(name: str | None) -> str:
    return " ".join(strip_suffixes(tokens(name)))


def block_tokens(normalised: str) -> tuple[str, ...]:
    """What a fuzzy candidate must share with a name to be compared with it at all: one of the
    first two words that are not stopwords, or the first four letters, or, for a name of one
    such word, that word's last four letters. So a one-letter typo leaves a shared block: in a
    name of two words or more, the other word; in a one-word name, the prefix (a typo near its
    end, "acme" / "acmee") or the suffix (a typo at its start, "wellington" / "xellington");
    letters split or joined ("k c motors" / "kc motors"), the prefix. Comparing only within
    these blocks keeps 100,000 × 50,000 names from becoming 5e9 comparisons. What no block
    catches (a typo in the middle of a one-word name under eight letters, or one in each of the
    first two words) is not proposed: a new customer, not a wrong link."""
    if not normalised:
        return ()
    words = [w for w in normalised.split() if w not in STOPWORDS]
    prefix = "^" + normalised.replace(" ", "")[:4]  # "^" and "$" keep these apart from words
    suffix = ["$" + words[0][-4:]] if len(words) == 1 and len(words[0]) > 4 else []
    return tuple(dict.fromkeys([*words[:2], prefix, *suffix]))
