"""Count each publisher's apps and datasets concurrently with the async client.

LUMBUNG_URL=… python async_inventory.py
"""

import asyncio

from lumbung_client import AsyncClient


async def count(client: AsyncClient, code: str) -> tuple[str, int, int]:
    apps = [a async for a in client.apps.list(publisher=code)]
    datasets = [d async for d in client.datasets.list(publisher=code)]
    return code, len(apps), len(datasets)


async def main() -> None:
    async with AsyncClient.from_env() as client:
        codes = [p.code async for p in client.publishers.list()]
        for code, apps, datasets in await asyncio.gather(*(count(client, c) for c in codes)):
            print(f"{code:30} {apps:4} apps {datasets:4} datasets")


asyncio.run(main())
