"""Query maps between embedding models: search an old model's index with a new model's queries.

- :func:`fit_map` fits maps of every kind (orthogonal Procrustes, ridge/affine, low-rank affine,
  residual MLP, relative representations over anchors) on paired embeddings of the same texts,
  measures each on held-out pairs and keeps the best.
- :class:`QueryMap` applies one (``transform``), saves and loads it (``save`` / ``load``), and
  carries its held-out report (:class:`KindQuality` per kind).

What makes a map good is its fit set: maps fitted on documents alone transfer poorly to short
queries; fit on query-like texts embedded by both models (as Query Drift Compensation does).
"""

from __future__ import annotations

from ._fit import MAP_KINDS, fit_map
from ._quality import KindQuality
from ._querymap import MAP_FORMAT_VERSION, QueryMap

__all__ = ["fit_map", "QueryMap", "KindQuality", "MAP_KINDS", "MAP_FORMAT_VERSION"]
