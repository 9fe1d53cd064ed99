"""Per-vertex sums of the teacher distributions seen in a scene's frames."""
from __future__ import annotations

from typing import Tuple

import numpy as np


class ViewAccumulator:
    """Running sum of soft distributions per vertex, and the views counted.

    Every view of a vertex weighs the same: the fused label is the mean
    over the views that saw it. A pixel the teacher left unlabelled (an
    all-zero row in the store) adds nothing and is not counted as a view.
    The sum is float32 (C * 4 bytes per vertex while a scene is fused: 90 MB
    for 150k vertices and 150 classes); the fused rows are normalised again
    before encoding, so its rounding does not reach the stored labels.
    """

    def __init__(self, num_vertices: int, num_classes: int):
        self.sums = np.zeros((int(num_vertices), int(num_classes)), np.float32)
        self.views = np.zeros(int(num_vertices), np.int64)

    def add(self, vertex_index: np.ndarray, probs: np.ndarray, unique: bool = True) -> int:
        """Add one frame's (n, C) distributions of vertices ``vertex_index``;
        returns the views counted. ``unique``: each vertex occurs once (as
        :func:`~d3l.fusion.visible_vertices` gives them), which allows a
        buffered sum; pass False otherwise."""
        labelled = probs.sum(1) > 0
        vertex_index, probs = vertex_index[labelled], probs[labelled]
        if unique:
            self.sums[vertex_index] += probs
            self.views[vertex_index] += 1
        else:  # unbuffered sums for repeated vertices
            np.add.at(self.sums, vertex_index, probs)
            np.add.at(self.views, vertex_index, 1)
        return int(len(vertex_index))

    def result(self) -> Tuple[np.ndarray, np.ndarray]:
        """(N, C) float32 mean distributions (all-zero rows for vertices no
        view saw) and (N,) view counts."""
        total = self.sums.sum(1, keepdims=True)
        fused = np.divide(self.sums, total, out=np.zeros_like(self.sums), where=total > 0)
        return fused, self.views.copy()
