"""Encoders: text → vectors, with all-MiniLM-L6-v2 bundled offline.

- :class:`TextEncoder` embeds a list of texts (early exit with ``layers=N``); with
  ``output="tokens"`` it gives one vector per token as :class:`TokenVectors` (rows + CSR offsets);
  :func:`shared_encoder` is the one instance per model that collections share;
  :func:`check_texts` is the one check of texts to embed.
- :func:`embed_file` embeds a .txt / .jsonl / .csv / .parquet file into a .npy,
  resumably.
- :func:`read_texts` reads the text column of such a file.
- :func:`bundled_texts` is the folder of the bundled WordNet sample.
- Graphs: :class:`FastRP` node embeddings over an edge list or a sparse adjacency
  (:func:`as_adjacency` is the one graph check, :func:`read_graph` reads edge-list files);
  :func:`orbit_adjacencies` / :func:`combine_orbits` give graphlet-orbit adjacencies to
  propagate over; :func:`tune_fastrp` searches FastRP's settings on labelled nodes.

Nothing here imports torch until a model is first used.
"""

from __future__ import annotations

from ._bundled import bundled_texts
from ._embed_file import embed_file, partial_dir
from ._fastrp import FastRP, sparse_projection
from ._graph import GRAPH_FORMATS, as_adjacency, degrees, read_graph
from ._graph_tune import FastRPTuning, tune_fastrp
from ._orbits import ORBIT_PAIRS, combine_orbits, orbit_adjacencies, parse_orbits
from ._readers import TEXT_FORMATS, read_texts
from ._text import BUNDLED_MODEL, TextEncoder, check_texts, resolve_model, shared_encoder
from ._tokens_out import TokenVectors

__all__ = [
    "TextEncoder",
    "TokenVectors",
    "embed_file",
    "read_texts",
    "bundled_texts",
    "resolve_model",
    "shared_encoder",
    "check_texts",
    "partial_dir",
    "BUNDLED_MODEL",
    "TEXT_FORMATS",
    # graphs
    "FastRP",
    "sparse_projection",
    "as_adjacency",
    "degrees",
    "read_graph",
    "GRAPH_FORMATS",
    "orbit_adjacencies",
    "combine_orbits",
    "parse_orbits",
    "ORBIT_PAIRS",
    "tune_fastrp",
    "FastRPTuning",
]
