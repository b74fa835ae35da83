"""Free text that people type (nicknames, names, addresses): bounded in length, and free of the
characters that break lines or hide and reorder text."""

from __future__ import annotations

import unicodedata

# Unicode controls (Cc: tabs, newlines, NUL ...), format characters (Cf: bidi overrides,
# zero-width spaces), lone surrogates (Cs) and line and paragraph separators (Zl, Zp). The
# zero-width joiner (a Cf) stays allowed: emoji sequences such as 👩‍💻 are made with it.
REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
JOINER = "\u200d"


def text_problem(text: str, max_length: int, min_length: int = 1) -> str | None:
    """Return why `text` is not acceptable (too short, too long, a control), or None if it is."""
    if not min_length <= len(text) <= max_length:
        return f"must be {min_length}-{max_length} characters"
    if any(char != JOINER and unicodedata.category(char) in REFUSED for char in text):
        return "must not contain control or invisible formatting characters"
    return None
