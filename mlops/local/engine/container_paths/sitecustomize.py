"""Loaded first by every Python process of a framework-image job: `/opt/ml/...` paths open the job's sandbox.

Other people's scripts write SageMaker's container paths literally (`base_dir = "/opt/ml/processing"`).
Without a container, this maps them where local mode put that job's `/opt/ml` (`MLOPS_CONTAINER_OPT_ML`)
for Python's file functions (open, os.*, and so pathlib, glob, shutil, pandas, numpy, joblib, tarfile);
a C library opening such a path itself gets "No such file or directory", never another job's file.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable
from typing import Any

CONTAINER_ROOT = "/opt/ml"
_ROOT = os.environ.get("MLOPS_CONTAINER_OPT_ML", "")
ONE_PATH = ("open", "stat", "lstat", "listdir", "scandir", "mkdir", "remove", "unlink", "rmdir", "chdir",
            "access", "utime", "chmod", "readlink", "truncate", "statvfs", "mkfifo")
TWO_PATHS = ("rename", "replace", "link", "symlink")


def mapped(path: Any) -> Any:
    text = path if isinstance(path, str) else os.fspath(path) if isinstance(path, os.PathLike) else None
    if isinstance(text, str) and (text == CONTAINER_ROOT or text.startswith(CONTAINER_ROOT + "/")):
        return _ROOT + text[len(CONTAINER_ROOT):]
    return path


def _one(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (mapped(args[0]), *args[1:])
        elif "path" in kwargs:
            kwargs["path"] = mapped(kwargs["path"])
        return function(*args, **kwargs)
    return call


def _two(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        return function(mapped(source), mapped(target), *args, **kwargs)
    return call


if _ROOT:
    builtins.open = io.open = _one(io.open)
    for _name in ONE_PATH:
        if hasattr(os, _name):
            setattr(os, _name, _one(getattr(os, _name)))
    for _name in TWO_PATHS:
        if hasattr(os, _name):
            setattr(os, _name, _two(getattr(os, _name)))
