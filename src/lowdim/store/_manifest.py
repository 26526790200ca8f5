"""The collection's settings and its self-describing ``manifest.json``.

The manifest says what the folder is (format version, dim, metric, spec, embedding
model, index kind, vector dtype), how much it holds and the size and CRC-32 of every
file it references. It is rewritten atomically after every committed change. The
SQLite catalog stays the source of truth: a writer killed between a commit and the
manifest rewrite leaves a manifest one generation behind, which readers tolerate
and the next writer (or ``lowdim check``) rewrites. The settings are stored in both,
so ``check`` can rebuild a lost manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .._version import __version__
from ..arrays import METRICS
from ..exceptions import FileFormatError, ParameterError, ValidationError
from ..spec import parse_spec
from ..validation import check_choice, check_positive_int
from ._files import json_bytes, write_bytes

__all__ = [
    "Settings",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "INDEX_KINDS",
    "GRAPH_KINDS",
    "VECTOR_DTYPES",
    "write_manifest",
    "read_manifest",
]

FORMAT = "lowdim.Collection"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
INDEX_KINDS = ("flat", "hnsw", "ivf")
#: the index kinds that keep a sub-linear index (the catalog's graph record) next to the codes
GRAPH_KINDS = ("hnsw", "ivf")
VECTOR_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class Settings:
    """What a collection is; fixed at creation.

    The defaults declared here are the only ones: :meth:`Collection.create` and
    ``lowdim create`` take ``None`` to mean them (see :meth:`with_defaults`).

    >>> Settings.with_defaults(dim=8, spec=None, train_size=None).spec, Settings.train_size
    ('int8+rerank4', 20000)
    """

    dim: int
    metric: str = "cosine"
    spec: str = "int8+rerank4"
    model: str | None = None
    index: str = "flat"
    train_size: int = 20_000
    vector_dtype: str = "float32"
    random_state: int = 0
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: int = 64
    #: IVF lists (index="ivf"); None: chosen from the rows when the index is built (see ``auto_nlist``)
    nlist: int | None = None
    #: IVF lists probed per query unless a search says otherwise; None: an eighth of the lists
    nprobe: int | None = None
    #: the text encoder (name or local model folder) of a text collection, else None
    encoder: str | None = None

    @classmethod
    def with_defaults(cls, **given: Any) -> Settings:
        """Settings from keyword arguments in which ``None`` means "the default" (not validated)."""
        return cls(**{k: v for k, v in given.items() if v is not None})

    def validated(self) -> Settings:
        """Check every field (as ``Collection.create`` received it) and normalise the spec string."""
        dim = check_positive_int(self.dim, "dim", owner="Collection")
        check_choice(self.metric, METRICS, "metric", owner="Collection")
        check_choice(self.index, INDEX_KINDS, "index", owner="Collection")
        check_choice(self.vector_dtype, VECTOR_DTYPES, "vector_dtype", owner="Collection")
        spec = parse_spec(self.spec)
        spec.check(dim)
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise ParameterError(f"The 'model' parameter of Collection must be a non-empty string or None. Got {self.model!r}.")
        check_positive_int(self.train_size, "train_size", owner="Collection")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ParameterError(f"The 'random_state' parameter of Collection must be an integer. Got {self.random_state!r}.")
        check_positive_int(self.hnsw_m, "hnsw_m", owner="Collection", minimum=2)
        check_positive_int(self.ef_construction, "ef_construction", owner="Collection")
        check_positive_int(self.ef_search, "ef_search", owner="Collection")
        for name in ("nlist", "nprobe"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name, owner="Collection")
                if self.index != "ivf":
                    raise ParameterError(
                        f"The '{name}' parameter applies to index='ivf'; this collection uses index='{self.index}'"
                    )
        if self.nlist is not None and self.nprobe is not None and self.nprobe > self.nlist:
            raise ParameterError(f"The 'nprobe' parameter of Collection must be at most nlist={self.nlist}. Got {self.nprobe}.")
        if self.encoder is not None and (not isinstance(self.encoder, str) or not self.encoder.strip()):
            raise ParameterError(f"The 'encoder' parameter of Collection must be a model name or folder. Got {self.encoder!r}.")
        return Settings(**{**asdict(self), "dim": dim, "spec": spec.to_spec(), "train_size": int(self.train_size)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> Settings:
        names = {f.name for f in fields(cls)}
        missing = [n for n in ("dim", "metric", "spec", "index") if n not in d]
        if missing:
            raise FileFormatError(f"{where} lacks the setting(s) {', '.join(missing)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    def check_model(self, model: str | None) -> None:
        """Refuse vectors declared to come from another embedding model than this collection's."""
        if model is not None and self.model is not None and model != self.model:
            raise ValidationError(
                f"vectors from model '{model}' do not fit this collection (model {self.model}): "
                f"embeddings of different models are not comparable"
            )

    def describe(self) -> str:
        """``"this collection (model all-MiniLM-L6-v2)"`` — how error messages name the collection."""
        return f"this collection (model {self.model})" if self.model else "this collection"


def write_manifest(root: Path, settings: Settings, state: dict[str, Any]) -> None:
    """Atomically replace ``manifest.json`` with the settings and ``state`` (generation, counts, files)."""
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lowdim_version": __version__,
        "settings": settings.to_dict(),
        **state,
    }
    write_bytes(root / MANIFEST_NAME, json_bytes(doc))


def read_manifest(root: Path) -> dict[str, Any]:
    """The parsed manifest; a missing, corrupt or foreign file is a one-line :class:`FileFormatError`."""
    path = root / MANIFEST_NAME
    hint = f"run 'lowdim check {root}' to rebuild it from the catalog"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileFormatError(f"{MANIFEST_NAME} is missing from collection {root}; {hint}") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{MANIFEST_NAME} in collection {root} is corrupt ({exc}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileFormatError(f"{MANIFEST_NAME} in {root} does not describe a lowdim collection; {hint}")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise FileFormatError(
            f"collection {root} has format version {version}; this lowdim ({__version__}) reads version {FORMAT_VERSION}"
        )
    if not isinstance(doc.get("settings"), dict):
        raise FileFormatError(f"{MANIFEST_NAME} in collection {root} has no settings; {hint}")
    return doc
