"""Regenerate the ccusage reference fixtures in tests/data/ccusage-20.0.24/.

    CCUSAGE_BIN=/tmp/ccusage/node_modules/@ccusage/ccusage-linux-x64/bin/ccusage \
        .venv/bin/python tests/bench/ccusage_reference.py

Needs ccusage 20.0.24 (`npm install ccusage@20.0.24`, native binary). Runs it with a throwaway
HOME on generated corpora only, never on this machine's own Claude data.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from corpus import generate  # noqa: E402

DATA = HERE.parent / "data" / "ccusage-20.0.24"
REPORTS = ("daily", "weekly", "monthly", "session", "blocks")


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.glob("projects/**/*.jsonl")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def refresh(name: str, ccusage: str) -> None:
    meta = json.loads((DATA / name / "corpus.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        corpus, home = Path(tmp) / "claude", Path(tmp) / "home"
        home.mkdir()
        truth = generate(corpus, **meta["args"])
        env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(corpus), "PATH": "/usr/bin:/bin"}
        for report in REPORTS:
            out = subprocess.run(
                [ccusage, "claude", report, "--json", "--offline", "-z", "UTC"],
                env=env, capture_output=True, check=True,
            ).stdout  # fmt: skip
            (DATA / name / f"{report}.json").write_bytes(out)
        meta.update(files=truth["files"], bytes=truth["bytes"], sha256=digest(corpus))
    (DATA / name / "corpus.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{name}: {meta['files']} files, {meta['bytes']:,} bytes")


def main() -> int:
    ccusage = os.environ.get("CCUSAGE_BIN", "")
    if not Path(ccusage).is_file():
        print("set CCUSAGE_BIN to the ccusage 20.0.24 native binary", file=sys.stderr)
        return 2
    for name in sorted(p.name for p in DATA.iterdir() if (p / "corpus.json").exists()):
        refresh(name, ccusage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
