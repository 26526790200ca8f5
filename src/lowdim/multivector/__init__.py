"""Multi-vector (token-level) documents: ragged token sets, MUVERA fixed-dimensional encodings, exact Chamfer.

A ColBERT-style model gives one vector per token; Chamfer (MaxSim) similarity scores a query
token set against a document's. :class:`FDE` turns each set into one vector whose inner product
approximates Chamfer, so a single-vector index (compressed by any lowdim spec) finds candidates
and :func:`chamfer_rerank` finishes exactly over the stored tokens.

>>> import numpy as np
>>> from lowdim.multivector import FDE, TokenSets, chamfer_topk
>>> rng = np.random.default_rng(0)
>>> docs = TokenSets.from_list([rng.normal(size=(n, 16)).astype(np.float32) for n in (3, 5, 4)])
>>> fde = FDE(k_sim=2, d_proj=8, reps=3).fit(docs)
>>> fde.encode_documents(docs).shape, chamfer_topk([docs[1]], docs, 1)[1].tolist()
((3, 96), [[1]])
"""

from ._baselines import TokenLevelIndex, pooled_vectors
from ._chamfer import chamfer_rerank, chamfer_scores, chamfer_topk
from ._collection import TOKENS_KEY, MultiVectorCollection, MultiVectorRecords, default_fde
from ._fde import FDE
from ._fusion import fuse_scores
from ._plan import BaselinePoint, MultiVectorPlan, MultiVectorPoint, MultiVectorTargetError, plan_multivector
from ._tokens import TokenSets, TokenSetsLike, check_token_sets

__all__ = [
    "TokenSets",
    "TokenSetsLike",
    "check_token_sets",
    "FDE",
    "chamfer_scores",
    "chamfer_rerank",
    "chamfer_topk",
    "TokenLevelIndex",
    "pooled_vectors",
    "fuse_scores",
    "MultiVectorCollection",
    "MultiVectorRecords",
    "TOKENS_KEY",
    "default_fde",
    "plan_multivector",
    "MultiVectorPlan",
    "MultiVectorPoint",
    "BaselinePoint",
    "MultiVectorTargetError",
]
