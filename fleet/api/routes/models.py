"""/api/v1/models: the product catalogue."""

from __future__ import annotations

from fastapi import APIRouter, status

from fleet.api.deps import PageDep, SessionDep, WriteDep
from fleet.api.schemas import ProductKindT, ProductModelCreate, ProductModelPublic, ProductModelsPublic, ProductModelUpdate
from fleet.services import catalogue

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ProductModelsPublic)
def list_models(session: SessionDep, page: PageDep, kind: ProductKindT | None = None,
                approved: bool | None = None) -> ProductModelsPublic:
    rows, count = catalogue.list_models(session, kind=kind, approved=approved, offset=page.offset, limit=page.limit)
    return ProductModelsPublic(data=[ProductModelPublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=ProductModelPublic, status_code=status.HTTP_201_CREATED)
async def create_model(write: WriteDep, body: ProductModelCreate) -> ProductModelPublic:
    return await write(lambda s: ProductModelPublic.model_validate(catalogue.create_model(s, data=body.model_dump())))


@router.get("/{model_id}", response_model=ProductModelPublic)
def get_model(session: SessionDep, model_id: int) -> ProductModelPublic:
    return ProductModelPublic.model_validate(catalogue.get_model(session, model_id))


@router.patch("/{model_id}", response_model=ProductModelPublic)
async def update_model(write: WriteDep, model_id: int, body: ProductModelUpdate) -> ProductModelPublic:
    data = body.model_dump(exclude_unset=True)
    return await write(lambda s: ProductModelPublic.model_validate(catalogue.update_model(s, model_id=model_id,
                                                                                         data=data)))
