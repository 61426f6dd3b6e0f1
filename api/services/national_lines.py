"""National lines: per country, the numbers that are always there (police emergency, child
helpline, women's helpline), entered by the operator. The lookup, the pathway and the search
show those of the point's country for a need that no service near the point meets, so that
nobody is left with "no service known" alone.

The point's country is the ``country`` of the administrative areas containing it (``relay
import areas --country``); a point in no area with a country has no national lines.
"""

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.db import Database
from api.errors import Conflict, NotFound
from api.models.directory import NationalLine, NationalLineKind
from api.repositories import national_lines as repository
from api.schemas.directory import NationalLineCreate
from api.services import audit
from api.services.audit import Action
from api.services.organizations import operator_only

# The needs a line answers when the operator names none.
KIND_NEEDS: dict[NationalLineKind, tuple[str, ...]] = {
    NationalLineKind.police: ("emergency-police",),
    NationalLineKind.child_helpline: ("helpline", "child-protection-case-management"),
    NationalLineKind.womens_helpline: ("helpline", "psychosocial-support"),
    NationalLineKind.other: ("helpline",),
}


class NationalLineExists(Conflict, code="national-line-exists"): ...


class NationalLineNotFound(NotFound, code="national-line-not-found"): ...


@dataclass(frozen=True)
class Line:
    country: str
    kind: str
    name: str
    number: str
    needs: tuple[str, ...]

    @property
    def tel(self) -> str:
        """The number for a ``tel:`` link (+ and digits)."""
        return "".join(char for char in self.number if char.isdigit() or char == "+")

    def json(self) -> dict[str, object]:
        return {**asdict(self), "needs": list(self.needs)}


async def at(database: Database, latitude: float, longitude: float, needs: list[str]) -> list[Line]:
    """The national lines of the point's country answering any of ``needs``."""
    if not needs:
        return []
    rows = await repository.at(database, latitude, longitude, needs)
    return [Line(row[0], row[1], row[2], row[3], tuple(row[4])) for row in rows]


async def of_countries(session: AsyncSession, countries: set[str], *, limit: int) -> list[Line]:
    """The lines of these countries (what a saved area carries for its areas' countries)."""
    if not countries:
        return []
    rows = await repository.of_countries(session, sorted(countries), limit)
    return [Line(row.country, row.kind, row.name, row.number, tuple(row.needs)) for row in rows]


def of_need(lines: list[Line], need: str) -> list[Line]:
    return [line for line in lines if need in line.needs]


async def create(
    session: AsyncSession, principal: Principal, body: NationalLineCreate
) -> NationalLine:
    """A line the operator adds (audited); 409 when the country has this number of this kind."""
    operator_only(principal)
    kind = NationalLineKind(body.kind)
    if await repository.exists(session, body.country, kind.value, body.number):
        raise NationalLineExists("This country already has this line.")
    created = await repository.add(
        session,
        NationalLine(
            country=body.country,
            kind=kind.value,
            name=body.name,
            number=body.number,
            needs=list(dict.fromkeys(body.needs or KIND_NEEDS[kind])),
        ),
    )
    await audit.record(session, principal, Action.admin_create, "national_line", [created.id], [])
    return created


async def listed(session: AsyncSession, country: str | None) -> list[NationalLine]:
    return await repository.listed(session, country)


async def get(session: AsyncSession, principal: Principal, line_id: uuid.UUID) -> NationalLine:
    """One line, for the operator's confirmation before removing it."""
    operator_only(principal)
    line = await repository.get(session, line_id)
    if line is None:
        raise NationalLineNotFound("No national line with this id.")
    return line


async def remove(session: AsyncSession, principal: Principal, line_id: uuid.UUID) -> None:
    """Remove a line (audited); 404 when there is none with this id."""
    operator_only(principal)
    if not await repository.remove(session, line_id):
        raise NationalLineNotFound("No national line with this id.")
    await audit.record(session, principal, Action.delete, "national_line", [line_id], [])
