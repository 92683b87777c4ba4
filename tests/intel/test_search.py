import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from curate.errors import CurateError
from curate.intel.search import build_index, normalise_rows, search_index, top_k_rows


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 60), st.just(8)), elements=st.floats(-10, 10, width=32)),
    st.integers(1, 12),
    st.integers(0, 2**16),
)
def test_exact_search_returns_the_best_cosine_scores_in_order(matrix, k, seed):
    query = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    rows, scores = search_index(build_index(matrix, "exact"), query, k)
    cosine = normalise_rows(matrix) @ normalise_rows(query)[0]
    assert len(rows) == min(k, len(matrix))
    assert np.all(np.diff(scores) <= 1e-6)
    np.testing.assert_allclose(scores, cosine[rows], atol=1e-5)
    # Nothing left out scores better than the worst returned row.
    rest = np.setdiff1d(np.arange(len(matrix)), rows)
    if len(rest):
        assert cosine[rest].max() <= scores[-1] + 1e-5


def test_top_k_rows_breaks_ties_by_row_and_handles_k_beyond_length():
    scores = np.array([0.5, 0.9, 0.5, 0.1], dtype=np.float32)
    assert top_k_rows(scores, 3).tolist() == [1, 0, 2]
    assert top_k_rows(scores, 10).tolist() == [1, 0, 2, 3]
    assert top_k_rows(scores, 0).tolist() == []


def test_allowed_mask_restricts_results_for_exact_and_hnsw():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    allowed = np.zeros(500, dtype=bool)
    allowed[::5] = True
    for method in ("exact", "hnsw"):
        rows, _ = search_index(build_index(matrix, method), matrix[7], 10, allowed)
        assert len(rows) == 10 and allowed[rows].all()


def test_hnsw_finds_the_same_neighbours_as_exact_search_on_clustered_data():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((20, 32))
    matrix = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 32))).astype(np.float32)
    exact, hnsw = build_index(matrix, "exact"), build_index(matrix, "hnsw")
    assert hnsw.method == "hnsw" and build_index(matrix, "auto").method == "exact"
    recall = np.mean([len(set(search_index(exact, q, 10)[0]) & set(search_index(hnsw, q, 10)[0])) / 10 for q in matrix[:40]])
    assert recall >= 0.95


def test_bad_method_and_dimension_mismatch_are_clear_errors():
    with pytest.raises(CurateError, match="unknown search method 'annoy'"):
        build_index(np.ones((3, 4)), "annoy")
    with pytest.raises(CurateError, match="query embedding has 3 dimensions, the index has 4"):
        search_index(build_index(np.ones((3, 4)), "exact"), np.ones(3), 2)


def test_hnsw_graph_is_saved_and_reused(tmp_path):
    matrix = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    cache = tmp_path / "abc-1.hnsw"
    first = build_index(matrix, "hnsw", cache_path=cache)
    saved = cache.stat().st_mtime_ns
    again = build_index(matrix, "hnsw", cache_path=cache)
    assert cache.stat().st_mtime_ns == saved
    np.testing.assert_array_equal(search_index(first, matrix[0], 5)[0], search_index(again, matrix[0], 5)[0])
    # A new version of the embeddings replaces the stale graph.
    build_index(matrix[:200], "hnsw", cache_path=tmp_path / "abc-2.hnsw")
    assert sorted(p.name for p in tmp_path.glob("*.hnsw")) == ["abc-2.hnsw"]
