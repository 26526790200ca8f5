"""Fixtures of the distributed tests: one local Ray for these tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def ray_local():
    """A local Ray with 2 worker slots, started once for tests/distributed (about 6 s) and shut down after them,
    so that its processes do not share the 2 cores with the rest of the suite."""
    from lowdim.distributed import connect

    ray = connect("local", num_cpus=2)
    yield ray
    ray.shutdown()
