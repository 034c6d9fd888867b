"""Shapes of checked expressions: broadcasting, matrix products, and the
placeholder of an expression that already failed."""

from __future__ import annotations

import numpy as np


class Bad:
    """Placeholder for an expression that already produced an error."""

    shape = None


BAD = Bad()


def fmt_shape(shape) -> str:
    return "scalar ()" if shape == () else str(tuple(shape))


def broadcast(a, b):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def matmul_shape(a, b):
    a, b = tuple(a), tuple(b)
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a[0] == b[0] else None
    if len(b) == 1:
        return a[:-1] if a[-1] == b[0] else None
    if len(a) == 1:
        return b[:-2] + b[-1:] if a[0] == b[-2] else None
    if a[-1] != b[-2]:
        return None
    batch = broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])
