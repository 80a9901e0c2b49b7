"""/api/v1/commands: queue (idempotent), deliver now, cancel, read results."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from fleet.api.deps import FleetDep, PageDep, SessionDep, SettingsDep, WriteDep
from fleet.api.schemas import CancelBody, CommandCreate, CommandCreated, CommandPublic, CommandsPublic
from fleet.core.errors import FleetError
from fleet.services import commands, queries
from fleet.store.models import Command

router = APIRouter(prefix="/commands", tags=["commands"])


@router.get("", response_model=CommandsPublic)
def list_commands(session: SessionDep, page: PageDep, device_id: str | None = None,
                  state: str | None = None) -> CommandsPublic:
    stmt = select(Command)
    if device_id:
        stmt = stmt.where(Command.device_id == device_id)
    if state:
        stmt = stmt.where(Command.state == state)
    rows, count = queries.page(session, stmt, offset=page.offset, limit=page.limit, order=Command.id.desc())
    return CommandsPublic(data=[CommandPublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=CommandCreated, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "the same request_key was used before: the first command"}})
async def create_command(fleet: FleetDep, settings: SettingsDep, body: CommandCreate,
                         response: Response) -> CommandCreated:
    """Queue a command. It reaches the device in the ack of its next message, or at once with
    `deliver_now` (POST /cmd to the device's last address); either way the result is recorded."""

    def create() -> tuple[int, bool]:
        with fleet.db.session() as session:
            cmd, created = commands.create(session, device_id=body.device_id, op=body.op, created_by=body.by,
                                           ttl_s=body.ttl_s or settings.command_ttl_s, request_key=body.request_key)
            session.commit()
            return cmd.id, created

    cmd_id, created = await fleet.writer.run(create)
    delivery_error = None
    if body.deliver_now and created:
        try:
            await fleet.deliver_command(cmd_id)
        except FleetError as e:
            delivery_error = str(e)
    if not created:
        response.status_code = status.HTTP_200_OK

    def read() -> CommandPublic:
        with fleet.db.session() as session:
            return CommandPublic.model_validate(commands.get(session, cmd_id))

    public = await fleet.writer.run(read)
    return CommandCreated(**public.model_dump(), created=created, delivery_error=delivery_error)


@router.get("/{command_id}", response_model=CommandPublic)
def get_command(session: SessionDep, command_id: int) -> CommandPublic:
    return CommandPublic.model_validate(commands.get(session, command_id))


@router.post("/{command_id}/send", response_model=CommandPublic)
async def send_command(fleet: FleetDep, command_id: int) -> CommandPublic:
    """Deliver a queued command to the device now and wait for its result."""
    cmd = await fleet.deliver_command(command_id)
    return CommandPublic.model_validate(cmd)


@router.post("/{command_id}/cancel", response_model=CommandPublic)
async def cancel_command(write: WriteDep, command_id: int, body: CancelBody) -> CommandPublic:
    cmd = await write(lambda s: commands.cancel(s, command_id=command_id, by=body.by))
    return CommandPublic.model_validate(cmd)
