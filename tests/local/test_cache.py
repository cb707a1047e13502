"""Cache keys and expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlops.local.engine.cache import cache_key, parse_duration
from mlops.local.errors import UnsupportedDefinitionError

STEP = {"Name": "Prep", "Type": "Processing", "CacheConfig": {"Enabled": True}}


def test_iso_durations() -> None:
    assert parse_duration("P30D") == timedelta(days=30)
    assert parse_duration("PT1H30M") == timedelta(hours=1, minutes=30)
    assert parse_duration("P1W") == timedelta(days=7)
    with pytest.raises(UnsupportedDefinitionError, match="30 days"):
        parse_duration("30 days")


def test_key_ignores_the_execution_id_but_not_input_content_or_code() -> None:
    def key(execution: str, digest: str = "d1", code: str = "c1") -> str:
        arguments = {"in": f"s3://b/{execution}/Prev/out", "out": f"s3://b/{execution}/Prep/out"}
        return cache_key(STEP, arguments, execution, code, {f"s3://b/{execution}/Prev/out": digest})

    assert key("run1") == key("run2")
    assert key("run1") != key("run1", digest="d2")
    assert key("run1") != key("run1", code="c2")
