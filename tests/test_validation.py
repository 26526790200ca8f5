"""The one array gate: messages pinned, invariants over shapes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lowdim import DimensionError, DTypeError, ValidationError, check_embeddings
from lowdim.arrays import to_float32
from lowdim.validation import check_choice


def test_messages():
    with pytest.raises(
        DimensionError, match=r"X is 1-D with shape \(3,\); expected a 2-D array \(n, d\)\. Use X\.reshape\(1, -1\)"
    ):
        check_embeddings(np.ones(3, np.float32))
    with pytest.raises(DimensionError, match="X has 768 features, but this collection expects 384"):
        check_embeddings(np.ones((2, 768), np.float32), n_features=384, what="this collection")
    with pytest.raises(ValidationError, match=r"X contains NaN or infinity in 2 row\(s\): 0, 4"):
        X = np.ones((5, 3), np.float32)
        X[0, 1] = np.inf
        X[4, 2] = np.nan
        check_embeddings(X)
    with pytest.raises(ValidationError, match=r"X is empty \(0 rows\); expected at least 1 vector of 3 features"):
        check_embeddings(np.ones((0, 3), np.float32))
    with pytest.raises(DTypeError, match="X has integer dtype int64; expected float embeddings"):
        check_embeddings(np.ones((2, 3), np.int64))
    with pytest.raises(DTypeError, match="dtype object"):
        check_embeddings(np.array([[1.0], "a"], dtype=object))
    with pytest.raises(DimensionError, match=r"3 dimensions with shape \(1, 2, 3\)"):
        check_embeddings(np.ones((1, 2, 3)))
    assert check_embeddings(np.ones((0, 3)), allow_empty=True).shape == (0, 3)


def test_many_bad_rows_are_summarised():
    X = np.full((10, 2), np.nan, np.float32)
    with pytest.raises(ValidationError, match=r"10 row\(s\): 0, 1, 2, 3, 4 and 5 more"):
        check_embeddings(X)


def test_check_choice_lists_valid_values():
    with pytest.raises(ValueError, match=r"The 'metric' parameter of X must be one of 'a', 'b'\. Got 'c'\."):
        check_choice("c", ("a", "b"), "metric", owner="X")


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
        elements=st.floats(-1000, 1000, width=16),
    )
)
def test_valid_arrays_pass_as_contiguous_float32(X):
    out = check_embeddings(X)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == X.shape
    np.testing.assert_array_equal(out, X.astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(dtype=np.float16, shape=(7, 5), elements=st.floats(-60000, 60000, width=16)))
def test_to_float32_matches_astype(X):
    np.testing.assert_array_equal(to_float32(X), X.astype(np.float32))
