"""Show who uses an app, on this node and on its peers, at which version.

LUMBUNG_URL=… python used_by.py kab-banyuwangi/smart-kampung
"""

import sys

from lumbung_client import Client

app_ref = sys.argv[1]

with Client.from_env() as client:
    app = client.apps.get(app_ref)
    print(f"{app.name} ({app.ref})")
    for adoption in client.adoptions.list(app=app):
        version = adoption.version or "?"
        where = adoption.deployment_url or "no public address"
        print(f"  {adoption.adopter_name:30} {version:10} {adoption.status:12} {where}")
