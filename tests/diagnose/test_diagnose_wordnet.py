"""Real data: WordNet glosses embedded with all-MiniLM-L6-v2 (116,697 x 384 float16, unit rows).

Observed with sample=5000, seed=0: TwoNN 15.8, MLE (k=20) 18.9, PCA dims for
90/95/99% = 197/241/315, mean share 0.064, hubness skewness 1.5, no exact
duplicates (the corpus merged identical texts). The ranges below are loose
around those numbers so that other seeds or library versions pass, while a
wrong estimator (off by 2x) does not.
"""

from __future__ import annotations

import pytest

from lowdim.diagnose import diagnose


@pytest.fixture(scope="module")
def wordnet_diag(wordnet_corpus):
    return diagnose(wordnet_corpus, sample=5000, seed=0)


def test_shape_and_norms(wordnet_diag):
    dg = wordnet_diag
    assert (dg.n, dg.d, dg.dtype, dg.sample_size) == (116697, 384, "float16", 5000)
    assert dg.normalized and abs(dg.norm_mean - 1) < 1e-3
    assert dg.n_duplicates == 0


def test_intrinsic_dimension_is_plausible(wordnet_diag):
    assert 10 <= wordnet_diag.id_twonn <= 24
    assert 12 <= wordnet_diag.id_mle <= 28


def test_spectrum(wordnet_diag):
    dg = wordnet_diag
    assert 150 <= dg.dims_90 <= dg.dims_95 <= dg.dims_99 <= 384
    assert 200 <= dg.dims_95 <= 290
    assert 0.02 <= dg.mean_share <= 0.15
    assert dg.mean_cosine == pytest.approx(dg.mean_share, abs=0.01)  # unit rows: ||mean||^2 ~ mean cosine


def test_no_binary_or_pq_warning(wordnet_diag):
    text = " ".join(wordnet_diag.warnings)
    assert "binary codes keep only" not in text and "PQ" not in text and "mean vector" not in text
