"""Download the newest release of an app into a directory, checking every file.

LUMBUNG_URL=… python pull_release.py kota-surabaya/perizinan-online ./deploy
"""

import sys

from lumbung_client import ArtifactMismatch, Client

app_ref, dest = sys.argv[1], sys.argv[2]

with Client.from_env() as client:
    try:
        result = client.apps.pull(app_ref, dest=dest)
    except ArtifactMismatch as exc:
        # Nothing half-written is left in dest; do not deploy.
        sys.exit(f"refusing to deploy: {exc}")
    for file in result.files:
        state = "already present" if file.reused else "downloaded"
        print(f"{file.name}: {file.size} bytes, sha256 {file.sha256[:12]}…, {state}")
