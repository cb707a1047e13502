"""Your inference code on its way into the model artifact: `inference.code_dir` becomes the training
job's `code` channel (a content-addressed S3 prefix), and training copies it to code/ in model.tar.gz.

`mlops pipeline run` uploads the folder there before it starts an execution; local mode copies it into
its S3 folder. The prefix changes with the content, so a code change is a new Train cache key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from config.images import REPO_ROOT
from config.naming import Names
from config.settings import EnvironmentConfig

INFERENCE_SCRIPT = "inference.py"
CODE_PREFIX = "inference-code"


class InferenceCodeError(Exception):
    """`inference.code_dir` names no usable folder; the message names the environment and the key."""


def inference_code_files(env: EnvironmentConfig, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Relative name -> file of the code folder (no caches); empty when the environment sets no folder."""
    if not env.inference.code_dir:
        return {}
    folder = root / env.inference.code_dir
    if not (folder / INFERENCE_SCRIPT).is_file():
        raise InferenceCodeError(f"environment {env.name!r}, key 'inference.code_dir': {folder} has no "
                                 f"{INFERENCE_SCRIPT}")
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def inference_code_uri(env: EnvironmentConfig, root: Path = REPO_ROOT) -> str | None:
    """s3://<artifacts>/<pipeline>/inference-code/<content hash>/, or None without inference code."""
    files = inference_code_files(env, root)
    if not files:
        return None
    digest = hashlib.sha256()
    for name, path in files.items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    names = Names.of(env)
    return f"s3://{names.bucket('artifacts')}/{names.pipeline}/{CODE_PREFIX}/{digest.hexdigest()[:16]}/"
