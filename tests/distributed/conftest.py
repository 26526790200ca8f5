"""Fixtures of the distributed tests: one local Ray for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 worker slots, started once for the whole suite (about 6 s) and shut down at the end."""
    from lowdim.distributed import connect

    ray = connect("local", num_cpus=2)
    yield ray
    ray.shutdown()
