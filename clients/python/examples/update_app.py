"""Change an app safely: the update is refused if someone else changed it meanwhile.

    LUMBUNG_URL=… LUMBUNG_CLIENT_ID=… LUMBUNG_CLIENT_SECRET=… \
        python update_app.py kab-banyuwangi/smart-kampung stable
"""

import sys

from lumbung_client import Client, PreconditionFailed, ValidationFailed

app_ref, status = sys.argv[1], sys.argv[2]

with Client.from_env() as client:
    app = client.apps.get(app_ref)
    try:
        # Passing the object sends its ETag as If-Match.
        app = client.apps.update(app, development_status=status)
    except PreconditionFailed:
        sys.exit("the app changed since it was read; read it again and retry")
    except ValidationFailed as exc:
        for error in exc.errors:
            print(f"{error.field}: {error.msg}", file=sys.stderr)
        sys.exit(1)
    print(f"{app.ref} is now {app.development_status}")
