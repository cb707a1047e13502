"""Lineage of a model version: the metadata keys, SageMaker's limits on them, and the code version.

A registered version carries its lineage in the model package's CustomerMetadataProperties under
keys prefixed `lineage:`. What is known when the definition is built (code commit, tree state,
definition hash, images) is written into the definition as literals; what only a run knows (the
data hash Preprocess computes, the execution ARN, baseline URIs, parameter values) as pipeline
expressions that SageMaker (or local mode) resolves at registration.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from config.settings import REPO_ROOT

PREFIX = "lineage:"
CODE_COMMIT = f"{PREFIX}code_commit"
CODE_DIRTY = f"{PREFIX}code_dirty"
DEFINITION_SHA256 = f"{PREFIX}definition_sha256"
IMAGES = f"{PREFIX}images"
IMAGE_SOURCES_SHA256 = f"{PREFIX}image_sources_sha256"
DATA_URI = f"{PREFIX}data_uri"
DATA_SHA256 = f"{PREFIX}data_sha256"
HYPERPARAMETERS = f"{PREFIX}hyperparameters"
EXECUTION_ARN = f"{PREFIX}execution_arn"
BASELINE_STATISTICS = f"{PREFIX}baseline_statistics"
BASELINE_CONSTRAINTS = f"{PREFIX}baseline_constraints"
KEYS = (CODE_COMMIT, CODE_DIRTY, DEFINITION_SHA256, IMAGES, IMAGE_SOURCES_SHA256, DATA_URI, DATA_SHA256,
        HYPERPARAMETERS, EXECUTION_ARN, BASELINE_STATISTICS, BASELINE_CONSTRAINTS)

# Where Preprocess writes the content hash of its input (report.json, read with Std:JsonGet).
DATA_SHA256_FIELD = "data_sha256"
# A commit we cannot name (no git, or not a repository): recorded as such, never guessed.
UNKNOWN_COMMIT = "unknown"

# CreateModelPackage's CustomerMetadataProperties (botocore's service model, sagemaker 2017-07-24):
# at most 50 entries, keys 1-128 and values 1-256 characters of letters, digits, spaces and _.:/=+-@.
MAX_ENTRIES = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_ALLOWED = re.compile(r"^[\w .:/=+\-@]*$")


def metadata_problems(properties: Mapping[str, str]) -> list[str]:
    """What SageMaker would refuse in CustomerMetadataProperties, one line per problem naming the key."""
    problems: list[str] = []
    if len(properties) > MAX_ENTRIES:
        problems.append(f"CustomerMetadataProperties has {len(properties)} entries; SageMaker allows {MAX_ENTRIES}")
    for key, value in properties.items():
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not _ALLOWED.match(key):
            problems.append(f"CustomerMetadataProperties key {key!r}: 1-{MAX_KEY_LENGTH} characters of letters, "
                            "digits, spaces and _.:/=+-@")
        text = str(value)
        if not 1 <= len(text) <= MAX_VALUE_LENGTH or not _ALLOWED.match(text):
            problems.append(f"CustomerMetadataProperties {key!r}: value of {len(text)} characters "
                            f"{text[:40]!r}... must be 1-{MAX_VALUE_LENGTH} characters of letters, digits, spaces "
                            "and _.:/=+-@")
    return problems


@dataclass(frozen=True)
class CodeVersion:
    """The commit the definition was built from, and whether the work tree differed from it."""

    commit: str
    dirty: bool

    @property
    def label(self) -> str:
        short = self.commit[:12]
        return f"{short} (uncommitted changes)" if self.dirty else short


def _git(root: Path, *arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@lru_cache(maxsize=4)
def code_version(root: Path = REPO_ROOT) -> CodeVersion:
    """HEAD of the repository and whether tracked or untracked (not ignored) files differ from it."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return CodeVersion(UNKNOWN_COMMIT, dirty=True)
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    return CodeVersion(head.strip(), dirty=status is None or bool(status.strip()))


def _register_steps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """RegisterModel steps, also those inside a Condition's branches."""
    found: list[dict[str, Any]] = []
    pending = list(definition.get("Steps", []))
    while pending:
        step = pending.pop(0)
        if step.get("Type") == "RegisterModel":
            found.append(step)
        elif step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            pending += [*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])]
    return found


def definition_sha256(definition: dict[str, Any]) -> str:
    """sha256 of the definition's stable text with its own hash entry blanked (it cannot hash itself)."""
    blank = json.loads(json.dumps(definition))
    for step in _register_steps(blank):
        properties = step["Arguments"].get("CustomerMetadataProperties", {})
        if DEFINITION_SHA256 in properties:
            properties[DEFINITION_SHA256] = ""
    text = json.dumps(blank, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    return hashlib.sha256(text.encode()).hexdigest()


def stamp_definition_sha256(definition: dict[str, Any]) -> str:
    """Write the definition's hash into every RegisterModel step's lineage; returns the hash."""
    digest = definition_sha256(definition)
    for step in _register_steps(definition):
        properties = step["Arguments"].get("CustomerMetadataProperties")
        if isinstance(properties, dict) and DEFINITION_SHA256 in properties:
            properties[DEFINITION_SHA256] = digest
    return digest

