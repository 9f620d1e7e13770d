"""'Did you mean ...?' suggestions for misspelt names."""

import difflib

# difflib's default (0.6) misses short names one character off, such as L3 -> L2.
_CUTOFF = 0.5


def closest(word, candidates):
    """The candidate `word` most likely misspells, or None.

    A case-insensitive exact match wins (`Conv2d` -> `Conv2D`); otherwise
    difflib's closest match above its similarity cut-off.
    """
    candidates = sorted(set(candidates))
    for candidate in candidates:
        if candidate.lower() == word.lower():
            return candidate
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=_CUTOFF)
    return matches[0] if matches else None


def did_you_mean(word, candidates):
    """The text `; did you mean 'X'?` to append to a message, or an empty string."""
    match = closest(word, candidates)
    return f"; did you mean '{match}'?" if match else ""
