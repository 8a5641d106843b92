"""Dependencies that load the catalog item a route's path names.

Each answers 404 for an item that does not exist or that the caller may not see (so
its existence does not leak); whether the caller may change it is the service's rule.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from registry.catalog import service
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.deps import SessionDep
from registry.oauth.deps import PrincipalDep


def publisher_of_path(publisher_ref: str, session: SessionDep) -> Publisher:
    """A publisher by id or by code."""
    return service.get_publisher(session, publisher_ref)


def app_of_path(app_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> App:
    return service.get_app(session, principal, app_id)


def dataset_of_path(dataset_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Dataset:
    return service.get_dataset(session, principal, dataset_id)


PublisherDep = Annotated[Publisher, Depends(publisher_of_path)]
AppDep = Annotated[App, Depends(app_of_path)]
DatasetDep = Annotated[Dataset, Depends(dataset_of_path)]


def release_of_path(release_id: uuid.UUID, app: AppDep, session: SessionDep) -> Release:
    return service.get_release(session, app, release_id)


def distribution_of_path(
    distribution_id: uuid.UUID, dataset: DatasetDep, session: SessionDep
) -> Distribution:
    return service.get_distribution(session, dataset, distribution_id)


ReleaseDep = Annotated[Release, Depends(release_of_path)]
DistributionDep = Annotated[Distribution, Depends(distribution_of_path)]
