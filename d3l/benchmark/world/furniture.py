"""Furniture built from primitives, with plausible sizes in metres.

The builders live by family (the room programs import them all from here):

* :mod:`.furniture_parts` -- :class:`Part`, :class:`Furniture` and the
  :class:`PartsBuilder` every builder uses (the object frame is described there);
* :mod:`.furniture_beds_seating` -- bed, chair, sofa, stool;
* :mod:`.furniture_storage` -- cabinet, bookshelf, bin, box;
* :mod:`.furniture_tables` -- table, desk, tv, lamp, rug;
* :mod:`.furniture_kitchen_bath` -- counter, wall cabinets, refrigerator,
  toilet, bathroom sink, bathtub;
* :mod:`.furniture_openings` -- door, window, picture / mirror.
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from .furniture_beds_seating import bed, chair, sofa, stool
from .furniture_kitchen_bath import (
    bathroom_sink,
    bathtub,
    counter,
    refrigerator,
    toilet,
    wall_cabinets,
)
from .furniture_openings import door, picture, window
from .furniture_parts import Furniture, Part, PartsBuilder
from .furniture_storage import bin_, bookshelf, box, cabinet
from .furniture_tables import desk, lamp, rug, table, tv

__all__ = ['Part', 'Furniture', 'PartsBuilder', 'SIMPLE_BUILDERS', 'bed', 'chair', 'sofa',
           'stool', 'cabinet', 'bookshelf', 'bin_', 'box', 'table', 'desk', 'tv', 'lamp', 'rug',
           'counter', 'wall_cabinets', 'refrigerator', 'toilet', 'bathroom_sink', 'bathtub',
           'door', 'window', 'picture']

#: builders that take only a generator, by name (used by the room programs)
SIMPLE_BUILDERS: Dict[str, Callable[[np.random.Generator], Furniture]] = {
    'bed': bed, 'bookshelf': bookshelf, 'rug': rug, 'sofa': sofa, 'stool': stool, 'bin': bin_,
    'box': box, 'desk': desk, 'tv': tv, 'refrigerator': refrigerator, 'toilet': toilet,
    'bathroom_sink': bathroom_sink, 'door': door}
