"""``MultiVectorCollection`` end to end on wordnet-minilm/tokens, next to single-vector first stages in the same run.

Data: 3,000 documents (41,909 token vectors, 384-d), 200 queries; the data set's exact Chamfer
top-100 is the ground truth. For each collection setting (spec on the fused first-stage vector
[FDE / sqrt(reps), w * pooled], FDE k_sim 3, d_proj 32, reps 20, no fill) this measures: the time
to create and add the 3,000 documents in one batch (FDE encoding, codec fit, durable write), RAM
bytes per document (the inner codes), the candidates the collection's own first stage needs for
Chamfer recall@10 of 0.90 / 0.95 after exact rerank (from its top 400), and the recall@10 and
single-thread QPS of ``search`` (query encoding, first stage, token gather from the float16 files,
exact Chamfer) at 100 and 150 candidates, batched over the 200 queries and one query at a time.

Peers, same data, same run: FAISS IndexFlatIP over the pooled vectors (f32, 1,536 B) and over the
uncompressed FDE (20,480 B), and the token-level index (``TokenLevelIndex``, 21.5 KB per document
in RAM), each followed by the same exact rerank.

Writes results/multivector_collection.json and prints a table; a full run takes 30 s on a quiet
2-core machine (up to ~3 minutes when it is busy: the PCA fits on 5,504-d vectors dominate).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from lowdim.arrays import single_thread  # noqa: E402
from lowdim.multivector import FDE, MultiVectorCollection, TokenLevelIndex, TokenSets, pooled_vectors  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wordnet-minilm" / "tokens"
OUT = Path(__file__).resolve().parent / "results" / "multivector_collection.json"
DEPTH = 400
ONE_AT_A_TIME = 50
#: (spec, pooled weight)
CONFIGS = [("pca512/int8", 1.35), ("binary", 0.75), ("pca256/int8", 1.35), ("pca512/int8", 0.0), ("binary", 0.0)]


def needed(cands: np.ndarray, gt: np.ndarray) -> dict[str, int | None]:
    """Smallest c whose first c candidates hold each recall@10 target (an exact rerank keeps them all)."""
    hit = np.array([np.isin(c, g) for c, g in zip(cands, gt)], dtype=np.float64)
    curve = hit.cumsum(axis=1).mean(axis=0) / gt.shape[1]
    out: dict[str, int | None] = {}
    for t in (0.90, 0.95):
        ok = np.flatnonzero(curve >= t - 1e-12)
        out[f"{t:.2f}"] = int(ok[0]) + 1 if len(ok) else None
    return out


def recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(r) & set(g.tolist())) / 10 for r, g in zip(ids.tolist(), gt)]))


def run_collection(spec: str, w: float, docs: TokenSets, queries: TokenSets, gt: np.ndarray) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        col = MultiVectorCollection.create(Path(tmp) / "mv", dim=docs.dim, spec=spec, pooled_weight=w)
        col.add(docs)
        add_s = time.perf_counter() - t
        info = col.info()
        first = col.index.search(col.encode_queries(queries), DEPTH, rerank=0)
        cands = np.array([[-1 if v is None else v for v in r] for r in first.ids.tolist()], np.int64)
        row: dict[str, Any] = {"name": f"collection {spec} w={w}", "bytes_per_doc": info["ram_bytes_per_document"]}
        row |= {"add_seconds": round(add_s, 1), "tokens_disk_bytes": info["tokens_disk_bytes"]}
        row |= {f"cands@{k}": v for k, v in needed(cands, gt).items()}
        with single_thread():
            for c in (100, 150):
                t = time.perf_counter()
                res = col.search(queries, 10, candidates=c)
                row[f"qps_batch@{c}"] = len(queries) / (time.perf_counter() - t)
                row[f"recall@10_at_{c}"] = recall(res.ids, gt)
            t = time.perf_counter()
            for i in range(ONE_AT_A_TIME):
                col.search(queries.slice(i, i + 1), 10)
            row["qps_one@default"] = ONE_AT_A_TIME / (time.perf_counter() - t)
        col.close()
    return row


def flat_peer(name: str, X: np.ndarray, Q: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(X, dtype=np.float32))
    with single_thread():
        t = time.perf_counter()
        _, cands = index.search(np.ascontiguousarray(Q, dtype=np.float32), DEPTH)
        qps = len(Q) / (time.perf_counter() - t)
    return {"name": name, "bytes_per_doc": 4 * X.shape[1], "qps_first_stage_batch": qps} | {
        f"cands@{k}": v for k, v in needed(cands, gt).items()
    }


def main() -> None:
    t0 = time.perf_counter()
    docs = TokenSets.from_csr(np.load(DATA / "docs_tokens.f16.npy"), np.load(DATA / "docs_offsets.npy"))
    queries = TokenSets.from_csr(np.load(DATA / "q_tokens.f16.npy"), np.load(DATA / "q_offsets.npy"))
    gt = np.load(DATA / "gt_maxsim_top100.npy")[:, :10]
    rows = [run_collection(spec, w, docs, queries, gt) for spec, w in CONFIGS]
    docs32 = TokenSets(docs.rows.astype(np.float32), docs.offsets)
    rows.append(flat_peer("FAISS flat pooled f32", pooled_vectors(docs32), pooled_vectors(queries), gt))
    fde = FDE(k_sim=3, d_proj=32, reps=20, fill_empty=False, seed=0).fit(docs32)
    rows.append(flat_peer("FAISS flat FDE k3-p32-r20 f32", fde.encode_documents(docs32), fde.encode_queries(queries), gt))
    tl = TokenLevelIndex(docs32)
    cands = tl.candidates(queries, DEPTH, per_token=32, order="sum")
    rows.append(
        {"name": "token-level sum per_token=32", "bytes_per_doc": tl.bytes_per_document}
        | {f"cands@{k}": v for k, v in needed(cands, gt).items()}
    )
    out = {"data": str(DATA), "n_docs": len(docs), "n_queries": len(queries), "rows": rows}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"{'first stage':42s} {'B/doc':>7s} {'c@.90':>6s} {'c@.95':>6s} {'R@100':>6s} {'R@150':>6s} {'QPS@100':>8s} {'add s':>6s}"
    )
    for r in rows:

        def f(key: str, fmt: str, r: dict[str, Any] = r) -> str:
            return format(r[key], fmt) if r.get(key) is not None else "-"

        print(
            f"{r['name']:42s} {r['bytes_per_doc']:7.0f} {f('cands@0.90', 'd'):>6s} {f('cands@0.95', 'd'):>6s} "
            f"{f('recall@10_at_100', '.3f'):>6s} {f('recall@10_at_150', '.3f'):>6s} {f('qps_batch@100', '.0f'):>8s} "
            f"{f('add_seconds', '.1f'):>6s}"
        )
    print(f"wrote {OUT} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
