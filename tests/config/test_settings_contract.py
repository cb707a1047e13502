"""The YAML loader refuses duplicate keys by name and line; data.schema is optional and validated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from config.settings import CONFIG_FILE, ConfigError, EnvironmentConfig, load_environment, load_project


def test_a_duplicate_environment_block_is_refused_naming_key_and_lines(tmp_path: Path) -> None:
    text = CONFIG_FILE.read_text()
    dev_block = text[text.index("  dev:"):text.index("  staging:")]
    path = tmp_path / "environments.yaml"
    # The copy refers to dev's YAML anchors instead of defining them again (a repeated anchor is another error).
    copy = re.sub(r"&(\w+) \[[^\]]*\]", r"*\1", dev_block.replace("ml-platform-dev@", "someone-else@"))
    # The copy goes right after dev's own block, inside `environments` (other top-level keys follow it).
    at = text.index("  staging:")
    path.write_text(text[:at] + copy + text[at:])
    first = text[:text.index("  dev:")].count("\n") + 1
    second = text[:at].count("\n") + 1
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert str(caught.value) == (f"{path}: key 'dev' appears twice in one block (lines {first} and {second}); "
                                 "the later block would silently win")


def test_a_duplicate_key_deep_inside_an_environment_is_refused(tmp_path: Path) -> None:
    text = CONFIG_FILE.read_text().replace("      threshold: 0.92\n", "      threshold: 0.92\n      threshold: 0.5\n")
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"key 'threshold' appears twice in one block \(lines \d+ and \d+\)"):
        load_project(path)


def test_without_a_schema_the_data_block_has_none() -> None:
    assert load_environment("dev").data.data_schema is None


def _with_schema(tmp_path: Path, schema: object) -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    raw["environments"]["dev"]["data"]["schema"] = schema
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_data_schema_loads_into_the_typed_contract(tmp_path: Path) -> None:
    path = _with_schema(tmp_path, {"columns": {
        "mean radius": {"type": "numeric", "min": 0, "required": True},
        "colour": {"type": "categorical", "categories": ["red", "green"]},
    }})
    schema = load_environment("dev", path).data.data_schema
    assert schema is not None
    assert schema.columns["mean radius"].min == 0
    assert schema.columns["colour"].categories == ("red", "green")


def test_an_environment_with_a_schema_survives_a_json_round_trip(tmp_path: Path) -> None:
    # Local mode builds the definition in a child process from the environment dumped as JSON.
    path = _with_schema(tmp_path, {"columns": {"x": {"type": "numeric", "max": 3}}})
    env = load_environment("dev", path)
    assert EnvironmentConfig.model_validate_json(env.model_dump_json()) == env
    plain = load_environment("dev")
    assert EnvironmentConfig.model_validate_json(plain.model_dump_json()) == plain


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"columns": {"x": {"type": "text"}}}, "key 'data.schema.columns.x.type'"),
        ({"columns": {"x": {"type": "numeric", "categories": ["a"]}}},
         "categories are for categorical columns, not numeric"),
        ({"columns": {"x": {"type": "numeric", "min": 3, "max": 1}}}, "min 3 is above max 1"),
        ({"columns": {}}, "key 'data.schema.columns'"),
    ],
    ids=["unknown-type", "categories-on-numbers", "min-above-max", "no-columns"],
)
def test_a_bad_schema_names_environment_and_key(tmp_path: Path, schema: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(_with_schema(tmp_path, schema))
    assert "environment 'dev'" in str(caught.value)
    assert expected in str(caught.value)
