"""Image tags: one content hash of the code baked into the images, used by the build and the definitions."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the images are built from: a change here is a new tag, so ECR's immutable tags never clash
# and a pipeline definition always names the image that holds its step code.
IMAGE_SOURCES = ("containers", "pipelines/steps")
IMAGES = ("training", "inference", "monitor")


@lru_cache(maxsize=4)
def source_digest(root: Path = REPO_ROOT) -> str:
    """The sha256 of every source file the images are built from (paths and contents)."""
    digest = hashlib.sha256()
    for folder in IMAGE_SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def source_tag(root: Path = REPO_ROOT) -> str:
    """The image tag: a short form of `source_digest`."""
    return f"src-{source_digest(root)[:12]}"
