"""Register an app, publish a release with a file, find the app with a filter, and pull
the release back with every file's size and sha256 checked.

    LUMBUNG_URL=http://127.0.0.1:8000 LUMBUNG_CLIENT_ID=… LUMBUNG_CLIENT_SECRET=… \
        python clients/python/examples/quickstart.py
"""

import tempfile
from pathlib import Path

from lumbung_client import Client

work = Path(tempfile.mkdtemp())
package = work / "antrean-online-1.0.0.tar.gz"
package.write_bytes(b"contoh paket rilis / an example release package\n")

with Client.from_env() as client:
    app = client.apps.create(
        slug="antrean-online",
        name="Antrean Online",
        visibility="public",
        categories=["health"],
        license="EUPL-1.2",
        description={
            "id": {"short_description": "Antrean puskesmas secara daring"},
            "en": {"short_description": "Online queue for community health centres"},
        },
    )
    release = client.releases.create(app, version="1.0.0", notes="Rilis pertama")
    client.releases.upload(release, package)

    for found in client.apps.list(category="health", q="antrean online"):
        print("found", found.ref, found.name)

    pulled = client.apps.pull(app, dest=work / "pulled")
    for file in pulled.files:
        print("pulled", file.name, file.size, "bytes, sha256", file.sha256)
