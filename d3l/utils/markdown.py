"""Markdown tables: the one writer behind ``tools/summarize.py`` and the
demo's report, so both print the same syntax and number formats.

>>> print(table(['method', '1%', '5%'], [['scratch', 10.25, None]], align='-rr'))
| method | 1% | 5% |
| --- | ---: | ---: |
| scratch | 10.2 | – |
"""
from __future__ import annotations

import math
from typing import Any, Iterable, List, Optional, Sequence

__all__ = ['table', 'table_lines', 'format_cell', 'mean_std', 'mean_std_of']

#: separator cell per alignment code: ``-`` markdown's default, ``l`` / ``r``
#: / ``c`` left / right / centred
_RULES = {'-': '---', 'l': ':---', 'r': '---:', 'c': ':---:'}


def format_cell(value: Any, number: str = '{:.1f}', missing: str = '–') -> str:
    """A cell's text: strings as they are, ``None`` as ``missing``, floats
    through ``number``, other values (ints) with ``str``."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return number.format(value)
    return str(value)


def mean_std(mean: float, std: Optional[float] = None, n: Optional[int] = None,
             digits: int = 1) -> str:
    """``mean ± std (n)``; the ``± std`` and ``(n)`` parts only when given."""
    text = f'{mean:.{digits}f}'
    if std is not None:
        text += f' ± {std:.{digits}f}'
    if n is not None:
        text += f' ({n})'
    return text


def mean_std_of(values: Sequence[float], digits: int = 1) -> str:
    """One value as itself; several as ``mean ± sample std (n)``."""
    if len(values) == 1:
        return mean_std(values[0], digits=digits)
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean_std(mean, std, len(values), digits)


def _row(cells: Sequence[str]) -> str:
    return '| ' + ' | '.join(cells) + ' |'


def table_lines(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = '-',
                number: str = '{:.1f}', missing: str = '–') -> List[str]:
    """The lines of a markdown table.

    Args:
        header: column titles.
        rows: one sequence of cells per row (see :func:`format_cell`).
        align: one code of ``-lrc`` per column, or a single code for all.
        number: format of float cells.
        missing: text of ``None`` cells.
    """
    width = len(header)
    codes = align * width if len(align) == 1 else align
    if len(codes) != width or set(codes) - set(_RULES):
        raise ValueError(f'align {align!r}: need one of "-lrc" per column ({width} columns)')
    lines = [_row([str(h) for h in header]), _row([_RULES[c] for c in codes])]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f'table row {i} has {len(row)} cells for {width} columns')
        lines.append(_row([format_cell(v, number, missing) for v in row]))
    return lines


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = '-',
          number: str = '{:.1f}', missing: str = '–') -> str:
    """:func:`table_lines` joined by newlines (no trailing newline)."""
    return '\n'.join(table_lines(header, rows, align, number, missing))
