"""``python -m lumbung_client``: the same as the ``lumbung-client`` command."""

from lumbung_client._cli import run

run()
