"""The one-line user errors of d3l's tools (:class:`CLIError`) and their
"did you mean" hints."""
from __future__ import annotations

import difflib
from typing import List

from d3l.utils.errors import D3LError


class CLIError(D3LError):
    """A user error found by the tool itself: printed as one line, exit 2."""


def close_matches(word: str, candidates: List[str], cutoff: float = 0.6) -> List[str]:
    """The closest of ``candidates`` to ``word`` (at most one), for hints."""
    return difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=cutoff)
