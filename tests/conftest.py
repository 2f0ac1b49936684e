"""Shared test fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUNDLED_ESTATE = REPO / "environments"


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A writable copy of the bundled estate."""
    target = tmp_path / "environments"
    shutil.copytree(BUNDLED_ESTATE, target)
    return target
