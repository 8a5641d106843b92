"""Start-up installs the flush hooks of the domains above core; importing their modules
does not. Each start is checked in a fresh interpreter, where no test installed them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
import sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from registry import indexing
from registry.search import index
from registry.sharing import restamp

def installed():
    return {
        "restamp": event.contains(Session, "after_flush", restamp._restamp_dependents),
        "search index": event.contains(Session, "after_flush", index._refresh_flushed),
        "search index of bulk writes": index._on_rows_written in indexing._listeners,
    }

before = [name for name, on in installed().items() if on]
assert not before, f"installed by an import: {before}"
START
print(", ".join(name for name, on in installed().items() if not on))
"""

STARTS = {
    "create_app": (
        "from registry.app import create_app\n"
        "from registry.settings import load_settings\n"
        "create_app(load_settings(data_dir=sys.argv[1]))"
    ),
    # The command line without a command: main() up to the point it would run one.
    "lumbung": "import registry.cli\nregistry.cli.app = lambda: None\nregistry.cli.main()",
}


@pytest.mark.parametrize("start", list(STARTS))
def test_start_up_installs_every_flush_hook(start: str, tmp_path: Path) -> None:
    code = CHECK.replace("START", STARTS[start])
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"missing after {start}: {done.stdout.strip()}"
