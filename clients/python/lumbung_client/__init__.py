"""Python client for Lumbung, the federated registry of e-government apps and datasets.

>>> from lumbung_client import Client
>>> with Client("https://lumbung.example.go.id") as client:  # doctest: +SKIP
...     for app in client.apps.list(category="health"):
...         print(app.ref, app.name)

``Client`` is synchronous; ``AsyncClient`` has the same surface with coroutines. Errors
derive from :class:`LumbungError`; see :mod:`lumbung_client._exceptions` for the tree.
"""

from lumbung_client import _exceptions, _models
from lumbung_client._async._changes import AsyncChangesPager
from lumbung_client._async._client import AsyncClient
from lumbung_client._async._pagination import AsyncPager
from lumbung_client._async._search import AsyncSearchPager
from lumbung_client._auth import ClientSecret, Credentials, PrivateKey, load_private_key

# Every exception and every model is public: each module's __all__ says which they are.
from lumbung_client._exceptions import *  # noqa: F403
from lumbung_client._models import *  # noqa: F403
from lumbung_client._sync._changes import ChangesPager
from lumbung_client._sync._client import Client
from lumbung_client._sync._pagination import SyncPager
from lumbung_client._sync._search import SearchPager
from lumbung_client._transfer import Progress, PulledFile, PullResult
from lumbung_client._transport import Retry
from lumbung_client._version import __version__

__all__ = [
    "AsyncChangesPager",
    "AsyncClient",
    "AsyncPager",
    "AsyncSearchPager",
    "ChangesPager",
    "Client",
    "ClientSecret",
    "Credentials",
    "PrivateKey",
    "Progress",
    "PullResult",
    "PulledFile",
    "Retry",
    "SearchPager",
    "SyncPager",
    "__version__",
    "load_private_key",
]
__all__ += _exceptions.__all__
__all__ += _models.__all__
