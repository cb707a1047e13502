"""What a synthesized cloud assembly provisions, per environment and stack, as a readable summary."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table


class AssemblyError(Exception):
    """The cloud assembly folder is missing or unreadable."""


def stack_inventory(outdir: Path) -> dict[str, Counter[str]]:
    """Resource types and counts of every stack template in `outdir` (a cdk.out folder)."""
    manifest_path = outdir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AssemblyError(f"{manifest_path}: cannot read the cloud assembly ({exc}); run `cdk synth` first") from exc
    inventory: dict[str, Counter[str]] = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_path = outdir / artifact["properties"]["templateFile"]
        try:
            template = json.loads(template_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise AssemblyError(f"{template_path}: cannot read stack {name}'s template ({exc})") from exc
        inventory[name] = Counter(r["Type"] for r in template.get("Resources", {}).values())
    return inventory


def print_inventory(outdir: Path, console: Console) -> None:
    inventory = stack_inventory(outdir)
    table = Table(title=f"Provisioned by `cdk deploy` ({outdir})")
    table.add_column("stack")
    table.add_column("resources", justify="right")
    table.add_column("what")
    for stack, counts in sorted(inventory.items()):
        what = ", ".join(f"{n} {kind.split('::', 1)[1]}" for kind, n in sorted(counts.items()))
        table.add_row(stack, str(sum(counts.values())), what)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    outdir = Path(args[0] if args else "cdk.out")
    try:
        print_inventory(outdir, Console())
    except AssemblyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
