"""Shared pytest fixtures: the lab (real Knot DNS, Postfix and scripted SMTP peers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import Lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """One lab per test session, so one per xdist worker, each on its own random /24.

    A lab that cannot start (packages missing, not root, port taken) is an error, not a
    skip: scripts/install-system-deps.sh installs what it needs.
    """
    with Lab.start() as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that uses the lab talks to real servers, whether or not it says so.
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
