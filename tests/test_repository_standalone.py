"""A fresh clone stands alone: no tracked file reaches outside the repository.

Development checkouts have folders beside them that a user's clone does not (a shared folder of
notes and reference files, other checkouts). Whatever the project needs lives inside it, so any
tracked file that names such a place is a bug waiting for the first user. The patterns are built
from pieces so that this file does not match itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import SAGEMAKER_REFERENCE

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = "sha" + "red"
DOTDOT = re.escape("..")

# Places outside the repository that development machines have and a user's clone does not.
OUTSIDE_PATTERNS: dict[str, re.Pattern[str]] = {
    "a shared folder beside the checkout": re.compile(rf"{DOTDOT}[/\\]+{SHARED}\b"),
    "a path joined up to a parent folder's shared folder": re.compile(
        rf"""\.parents?\b[^\n]*/\s*["']{SHARED}["']|["']{DOTDOT}["']\s*,\s*["']{SHARED}["']"""
    ),
    "the reference folder outside the repository": re.compile(rf"\b{SHARED}/reference\b"),
    "an absolute path of a development checkout": re.compile(r"/" + r"work/(?:" + SHARED + r"|main|wt)\b"),
}


def _outside_references(text: str, repo_root: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, what, matched text) for every place the text names outside the repository."""
    # The checkout's own absolute path as a whole path, not as part of a longer name ("/src" in "sdk/src/").
    own_paths = [
        re.compile(rf"(?<![\w./-]){re.escape(str(root))}(?![\w.-])") for root in {repo_root, repo_root.resolve()}
    ]
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in OUTSIDE_PATTERNS.items():
            found = pattern.search(line)
            if found:
                yield number, what, found.group(0)
        for own in own_paths:
            found = own.search(line)
            if found:
                yield number, "this checkout's absolute path", found.group(0)


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [name for name in listing.split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository() -> None:
    problems: list[str] = []
    tracked = _tracked_files()
    # Design notes cited by name must be files of the repository (docs/architecture.md is).
    note_names = {"DESIGN" + ".md", "STYLE" + ".md"} - {Path(name).name for name in tracked}
    cited_note = re.compile(r"\b(?:" + "|".join(re.escape(note) for note in sorted(note_names)) + r")\b")
    for name in tracked:
        path = REPO_ROOT / name
        if path.is_symlink():
            target = Path(os.readlink(path))
            resolved = (path.parent / target).resolve()
            if target.is_absolute() or not resolved.is_relative_to(REPO_ROOT.resolve()):
                problems.append(f"{name}: symlink to {target}, outside the repository")
            continue
        if not path.is_file():
            continue  # deleted in the work tree but still in the index
        text = path.read_bytes().decode("utf-8", errors="replace")
        problems.extend(
            f"{name}:{number}: {what}: {matched!r}" for number, what, matched in _outside_references(text, REPO_ROOT)
        )
        if note_names:
            problems.extend(
                f"{name}:{number}: design notes not in the repository: {found.group(0)!r}"
                for number, line in enumerate(text.splitlines(), start=1)
                if (found := cited_note.search(line))
            )
    assert not problems, "tracked files refer outside the repository:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "line",
    [
        "REFERENCE = Path(__file__).resolve().parents[3] / '" + SHARED + "' / 'reference'",
        'p = os.path.join(here, "..", "' + SHARED + '", "x.json")',
        "see .." + "/" + SHARED + "/notes.md",
        "(" + SHARED + "/reference/README.md, item 7)",
        'REFERENCE = Path("/' + "work/" + SHARED + '/reference")',
        "cd /" + "work/main && make",
        "git worktree add /" + "work/wt/name",
    ],
)
def test_each_outside_pattern_is_caught(line: str) -> None:
    assert list(_outside_references(line, Path("/nowhere/repo"))), line


def test_the_checkout_path_is_caught_and_ordinary_words_are_not(tmp_path: Path) -> None:
    assert list(_outside_references(f"cache = '{tmp_path}/x'", tmp_path))
    assert not list(_outside_references("aws/sagemaker-python-sdk/src/sagemaker", Path("/src")))
    harmless = (
        "shared = [feature for feature in baseline.features if feature.name in frame.columns]\n"
        "SAGEMAKER_REFERENCE = FIXTURES / 'sagemaker'  # tests/fixtures/sagemaker/README.md\n"
        "containers/contracts: SageMaker file formats shared by every image (docs/architecture.md)\n"
    )
    assert not list(_outside_references(harmless, tmp_path))


def test_every_reference_file_has_its_provenance_in_the_readme() -> None:
    readme = (SAGEMAKER_REFERENCE / "README.md").read_text(encoding="utf-8")
    files = sorted(path.name for path in SAGEMAKER_REFERENCE.iterdir() if path.name != "README.md")
    assert files, "no reference files"
    missing = [name for name in files if f"`{name}`" not in readme]
    assert not missing, f"reference files without provenance in {SAGEMAKER_REFERENCE / 'README.md'}: {missing}"
