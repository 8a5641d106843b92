"""Publish a release whose files are hosted elsewhere (e.g. on the city's code forge).

    LUMBUNG_URL=… LUMBUNG_CLIENT_ID=… LUMBUNG_CLIENT_SECRET=… \
        python publish_release.py kab-banyuwangi/smart-kampung 2.5.0 https://git.example/sk-2.5.0.tar.gz
"""

import hashlib
import sys
from datetime import UTC, datetime

import httpx2

from lumbung_client import Client, Conflict

app_ref, version, file_url = sys.argv[1:4]

# The registry stores the size and sha256 so that whoever pulls the file can check it.
content = httpx2.get(file_url, follow_redirects=True).raise_for_status().content
artifact = {
    "name": file_url.rsplit("/", 1)[-1],
    "url": file_url,
    "size": len(content),
    "sha256": hashlib.sha256(content).hexdigest(),
}

with Client.from_env() as client:
    try:
        release = client.releases.create(
            app_ref,
            version=version,
            released_at=datetime.now(UTC),
            notes=f"Release {version}",
            artifacts=[artifact],
        )
    except Conflict:
        sys.exit(f"{app_ref} already has a release {version}")
    print(f"published {app_ref} {release.version} ({release.id})")
