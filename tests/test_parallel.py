import pytest

from curate.errors import CurateError
from curate.parallel import DaskExecutor, make_executor


def _square(x):
    return x * x


def test_executors_keep_order():
    items = list(range(300))
    expected = [x * x for x in items]
    assert make_executor("serial").map(_square, items) == expected
    assert make_executor("local", workers=2).map(_square, items, chunksize=16) == expected


def test_dask_executor_matches_local():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        assert DaskExecutor(client=client).map(_square, list(range(100)), chunksize=7) == [x * x for x in range(100)]


def test_unknown_executor_and_missing_scheduler():
    with pytest.raises(CurateError, match="unknown executor 'spark'"):
        make_executor("spark")
    with pytest.raises(CurateError, match="--scheduler"):
        make_executor("dask")
