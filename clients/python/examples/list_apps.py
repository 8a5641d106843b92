"""List the public apps in one category, with their newest release.

LUMBUNG_URL=https://lumbung.example.go.id python list_apps.py health
"""

import sys

from lumbung_client import Client, NotFound

category = sys.argv[1] if len(sys.argv) > 1 else "health"

# Without LUMBUNG_CLIENT_ID/SECRET the client reads anonymously: public items only.
with Client.from_env() as client:
    for app in client.apps.list(category=category):
        try:
            newest = client.releases.latest(app).version
        except NotFound:
            newest = "no releases yet"
        print(f"{app.ref:40} {app.name:30} {newest}")
