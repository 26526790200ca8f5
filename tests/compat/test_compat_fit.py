"""fit_map and QueryMap on small seeded synthetic pairs: recovery, selection, files, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.compat import MAP_KINDS, KindQuality, QueryMap, fit_map
from lowdim.exceptions import DimensionError, FileFormatError, ParameterError, ValidationError


def _pairs(n: int = 600, d: int = 16, *, seed: int = 0, affine: bool = False, noise: float = 0.0):
    """``(new, old)``: low-rank new vectors and old = a known rotation (or affine map) of them."""
    rng = np.random.default_rng(seed)
    new = (rng.standard_normal((n, 6)) @ rng.standard_normal((6, d)) + 0.1 * rng.standard_normal((n, d))).astype(np.float32)
    R = np.linalg.qr(rng.standard_normal((d, d)))[0]
    if affine:
        old = new @ (R * rng.uniform(0.3, 3.0, d)) + 2.0 * rng.standard_normal(d)
    else:
        old = new @ R
    old = old + noise * rng.standard_normal(old.shape)
    return new, old.astype(np.float32), R


def test_procrustes_recovers_a_known_rotation():
    new, old, R = _pairs()
    qmap = fit_map(new, old, kind="procrustes")
    assert qmap.kind == "procrustes" and qmap.normalize_output_ is False
    np.testing.assert_allclose(qmap.params_["W"], R, atol=1e-4)
    np.testing.assert_allclose(qmap.transform(new), old, atol=1e-3)
    q = qmap.quality
    assert q.cosine > 0.9999 and q.top1 == 1.0 and q.top10 == 1.0


def test_ridge_beats_procrustes_on_an_affine_map_and_auto_picks_it():
    new, old, _ = _pairs(affine=True, noise=0.05, seed=1)
    qmap = fit_map(new, old, kind=["procrustes", "ridge"])
    assert qmap.kind == "ridge"
    assert qmap.report["ridge"].cosine > 0.99 > qmap.report["procrustes"].cosine
    auto = fit_map(new, old)  # every kind
    assert set(auto.report) == set(MAP_KINDS) - {"auto"}
    assert auto.kind in {"ridge", "lowrank", "mlp"}
    assert auto.quality.top10 >= qmap.report["procrustes"].top10


def test_every_kind_maps_between_widths_and_is_seeded():
    new, old, _ = _pairs(400, 16, seed=2)
    old = np.hstack([old, old[:, :4] * 0.5])  # 20 old features
    for kind in MAP_KINDS[1:]:
        a, b = fit_map(new, old, kind=kind, seed=3), fit_map(new, old, kind=kind, seed=3)
        out = a.transform(new[:5])
        assert out.shape == (5, 20) and out.dtype == np.float32
        np.testing.assert_array_equal(out, b.transform(new[:5]))
        assert a.quality.top10 > 0.5, (kind, a.quality)


def test_unit_norm_targets_give_unit_norm_output():
    new, old, _ = _pairs(300, 12, seed=4, noise=0.1)
    old /= np.linalg.norm(old, axis=1, keepdims=True)
    out = fit_map(new, old, kind="ridge").transform(new[:10])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    new, old, _ = _pairs(300, 12, seed=5, affine=True)
    qmap = fit_map(new, old, kind=["ridge", "mlp"], models=("new-model", "old-model"), fit_ids=np.arange(300) + 1000)
    path = qmap.save(tmp_path / "map.npz")
    back = QueryMap.load(path)
    assert back.kind == qmap.kind and back.models == ("new-model", "old-model") and back.n_fit_ == qmap.n_fit_ == 240
    assert back.report == qmap.report and isinstance(back.quality, KindQuality)
    assert back.fit_ids is not None and len(back.fit_ids) == 240 and back.fit_ids.min() >= 1000
    np.testing.assert_array_equal(back.transform(new), qmap.transform(new))
    assert back.header()["kinds"] == ["mlp", "ridge"] and back.header()["format_version"] == 1


def test_errors_are_one_line(tmp_path):
    new, old, _ = _pairs(100, 8)
    with pytest.raises(ValidationError, match="new has 100 rows but old has 99; fit_map needs paired rows"):
        fit_map(new, old[:99])
    with pytest.raises(ParameterError, match="'kind' parameter of fit_map must be one of 'auto', 'procrustes'"):
        fit_map(new, old, kind="rigde")
    with pytest.raises(ParameterError, match="'holdout' parameter"):
        fit_map(new, old, holdout=1.5)
    with pytest.raises(ValidationError, match="at least 20 pairs"):
        fit_map(new[:15], old[:15])
    bad = new.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValidationError, match="new contains NaN or infinity in 1 row"):
        fit_map(bad, old)
    qmap = fit_map(new, old, kind="ridge")
    with pytest.raises(DimensionError, match="queries has 9 features, but this query map expects 8"):
        qmap.transform(np.zeros((2, 9), np.float32))
    with pytest.raises(ValidationError, match="NaN"):
        qmap.transform(bad[5:9])
    path = qmap.save(tmp_path / "map.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="query map file .*cut.npz is truncated or corrupt"):
        QueryMap.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "plain.npz", W=np.eye(3))
    with pytest.raises(FileFormatError, match="has no lowdim header"):
        QueryMap.load(tmp_path / "plain.npz")
    with pytest.raises(FileFormatError, match="does not exist"):
        QueryMap.load(tmp_path / "missing.npz")


def test_validation_queries_choose_the_kind_and_are_reported():
    new, old, _ = _pairs(500, 12, seed=6, affine=True, noise=0.3)
    val = (new[:100] + 0.05, np.arange(100), old[:100])  # judged queries: each should find its own old row
    qmap = fit_map(new, old, kind=["procrustes", "ridge", "relative"], validation=val)
    hits = {k: q.validation for k, q in qmap.report.items()}
    assert all(h is not None and 0.0 <= h <= 1.0 for h in hits.values())
    assert qmap.kind == max(hits, key=lambda k: hits[k]) and hits["ridge"] > hits["procrustes"]
    with pytest.raises(ParameterError, match="'validation' parameter of fit_map must be a tuple"):
        fit_map(new, old, validation=new[:10])
    with pytest.raises(ValidationError, match=r"validation relevant holds rows outside the index \(0..99\)"):
        fit_map(new, old, kind="ridge", validation=(new[:5], np.array([0, 1, 2, 3, 100]), old[:100]))
    with pytest.raises(DimensionError, match="validation index has 8 features, but the old space expects 12"):
        fit_map(new, old, kind="ridge", validation=(new[:5], np.arange(5), old[:100, :8]))
