"""``lowdim embed-graph``: a thin layer over :class:`~lowdim.encoders.FastRP` and :func:`~lowdim.encoders.tune_fastrp`.

Its output is a float32 ``.npy`` of one row per node, ready for ``lowdim inspect / plan / create``.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "parse_weights"]


def parse_weights(text: str) -> list[float]:
    """``"0,1,1"`` -> ``[0.0, 1.0, 1.0]``; anything else is a one-line :class:`ParameterError`.

    >>> parse_weights("0, 0.5,2")
    [0.0, 0.5, 2.0]
    """
    from ..exceptions import ParameterError

    try:
        out = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ParameterError(f"--weights must be comma-separated numbers such as 0,1,1. Got {text!r}.") from None
    if not out:
        raise ParameterError(f"--weights must be comma-separated numbers such as 0,1,1. Got {text!r}.")
    return out


def _load_npy(path: Path, what: str) -> object:
    import numpy as np

    from ..exceptions import FileFormatError

    if not path.is_file():
        raise FileFormatError(f"{path}: no such {what} file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: could not be read as a .npy {what} file ({str(exc).splitlines()[0]})") from None


def register(app: typer.Typer) -> None:
    """Add the ``embed-graph`` command to ``app``."""

    @app.command("embed-graph")
    def embed_graph(
        edges: Path = typer.Argument(
            ..., help="Graph: .npy int pairs (m, 2), .csv/.tsv/.txt edge list, or .mtx adjacency.", show_default=False
        ),
        output: Path = typer.Option(..., "-o", "--output", help="Where the float32 node vectors go (.npy).", show_default=False),
        dim: int = typer.Option(256, "--dim", help="Embedding dimension."),
        weights: str = typer.Option("0,1,1", "--weights", help="Weight of each power P¹..Pᵏ, comma-separated."),
        beta: float = typer.Option(-0.5, "--beta", help="Degree exponent β of the random vectors."),
        normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Row-normalise each power before weighting."),
        self_influence: float = typer.Option(0.0, "--self-influence", help="Weight of each node's own initial vector."),
        features: Path | None = typer.Option(None, "--features", help="Node features .npy (n, f), e.g. text embeddings."),
        feature_ratio: float = typer.Option(0.5, "--feature-ratio", help="Share of dimensions from --features."),
        orbits: str | None = typer.Option(
            None,
            "--orbits",
            help="Propagate over orbit adjacencies, e.g. 'edge=1,triangle=0.5' (edge, wedge_ends, wedge_end_centre, triangle).",
        ),
        n_nodes: int | None = typer.Option(None, "--n-nodes", help="Number of nodes (default: largest id + 1)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        tune_labels: Path | None = typer.Option(
            None,
            "--tune-labels",
            help="Labels .npy (n,) with -1 = unlabelled, or (n, c) 0/1: tune β, weights, orbits on them first.",
        ),
        tune_trials: int = typer.Option(20, "--tune-trials", help="Settings tried when tuning."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Embed the nodes of a graph with FastRP into a .npy of float32 vectors."""
        import numpy as np

        from .._atomic import write_atomic
        from .._progress import say
        from ._fastrp import FastRP
        from ._graph import as_adjacency, read_graph
        from ._graph_tune import DEFAULT_ORBIT_CHOICES, tune_fastrp

        graph = as_adjacency(read_graph(edges), n_nodes=n_nodes, dtype=np.float64, name=str(edges))
        feats = None if features is None else _load_npy(features, "features")
        params: dict[str, object] = {
            "weights": parse_weights(weights),
            "beta": beta,
            "normalize": normalize,
            "self_influence": self_influence,
            "feature_ratio": feature_ratio if feats is not None else 0.0,
            "orbits": orbits,
        }
        FastRP(dim, **params)._check_params()  # type: ignore[arg-type]  # refuse bad settings before any work
        if tune_labels is not None:
            labels = _load_npy(tune_labels, "labels")
            result = tune_fastrp(
                graph,
                labels,
                dim=dim,
                search_dim=min(dim, 64),
                n_trials=tune_trials,
                orbit_choices=[orbits] if orbits else DEFAULT_ORBIT_CHOICES,
                features=feats,
                random_state=seed,
                progress=progress,
            )
            params.update(result.params)
            say(
                f"tuned on {tune_labels.name}: {result.params} (validation Macro-F1 {result.macro_f1:.4f}, Micro-F1 {result.micro_f1:.4f})"
            )
        est = FastRP(dim, random_state=seed, **params)  # type: ignore[arg-type]
        X = est.fit_transform(graph, features=feats, progress=progress)
        X = np.ascontiguousarray(X, dtype=np.float32)
        write_atomic(output, lambda fh: np.save(fh, X))
        say(f"wrote {X.shape[0]:,} × {X.shape[1]} float32 node vectors to {output}")
