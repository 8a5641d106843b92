"""Register a dataset with one downloadable file, titled in two languages.

    LUMBUNG_URL=… LUMBUNG_CLIENT_ID=… LUMBUNG_CLIENT_SECRET=… \
        python register_dataset.py jumlah-penduduk https://data.example.go.id/penduduk.csv
"""

import sys

from lumbung_client import Client, Conflict, ValidationFailed

slug, csv_url = sys.argv[1], sys.argv[2]

with Client.from_env() as client:
    try:
        dataset = client.datasets.create(
            slug=slug,
            # Texts are given per language: {"id": …, "en": …}, never a plain string.
            title={"id": "Jumlah Penduduk per Kecamatan", "en": "Population by District"},
            description={"id": "Jumlah penduduk menurut kecamatan, diperbarui tiap tahun."},
            keywords=["kependudukan", "population"],
            themes=["SOCI"],
            license="CC-BY-4.0",
            visibility="public",
        )  # publisher defaults to your service account's
    except Conflict:
        sys.exit(f"your publisher already has a dataset {slug!r}")
    except ValidationFailed as exc:
        for error in exc.errors:
            print(f"{error.field}: {error.msg}", file=sys.stderr)
        sys.exit(1)
    client.distributions.create(dataset, access_url=csv_url, media_type="text/csv")
    print(f"registered {dataset.ref}: {dataset.title['id']}")
