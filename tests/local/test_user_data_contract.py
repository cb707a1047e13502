"""A user's CSV with a repeated column name is refused before anything runs, naming file and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.local.errors import LocalModeError
from mlops.local.loop.user_data import inspect_csv


def test_a_repeated_column_name_is_refused_before_the_run(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("y,a,b,a\n1,2,3,4\n0,5,6,7\n")
    with pytest.raises(LocalModeError, match=rf"--data {data}: column 'a' appears twice in the header"):
        inspect_csv(data, "y", None)
