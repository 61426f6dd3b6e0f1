"""The nearest query's plans on 100k service points: an ordered GiST scan, never a sequential scan.

The API sends every search with a radius (the default when the caller names none), so each case
is explained both without and with the default radius.

The HSDS text search (``search=``, an ``ILIKE '%words%'`` on names and descriptions) is explained
on the same rows: its trigram indexes (migration 0014) must serve it, never a scan of every service.

The points are the benchmark's generator (``bench/generate.py``) run inside one transaction that
is rolled back at the end, with ``ANALYZE`` in between so the planner sees realistic statistics.
Each query is explained twice, as the API sends it (``api.db.Compiled``): with its values (a
custom plan) and as a generic prepared plan, which is what the API runs (STYLE.md rule 10).
"""

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import shapely
from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.viewer import Viewer
from api.db import Compiled
from api.filters import DirectoryFilters
from api.models.directory import need_index_name
from api.repositories import ogc
from api.repositories.directory import (
    ORGANIZATION_ORDER,
    SERVICE_ORDER,
    filter_organizations,
    filter_services,
    visible_organizations,
    visible_services,
)
from api.repositories.search import (
    PARAMETERS,
    SearchFilters,
    _values,
    nearest_of_needs_statement,
    nearest_statement,
)
from api.services.search import DEFAULT_RADIUS_M, MAXIMUM_RADIUS_M
from api.taxonomy import NEED_CODES
from bench.generate import populate

POINTS = 100_000
NAIROBI = shapely.to_wkb(
    shapely.set_srid(shapely.box(36.6, -1.45, 37.1, -1.15), 4326), include_srid=True
)
ANONYMOUS = Viewer(sees_partner_records=False, cleared=False)
PARTNER = Viewer(sees_partner_records=True, cleared=False)
CLEARED = Viewer(sees_partner_records=True, cleared=True)
NEED_INDEXES = {
    need_index_name(prefix, code): code
    for code in NEED_CODES
    for prefix in ("point", "stand_in", "public")
}
GIST_INDEXES = {*NEED_INDEXES, "ix_location_point", "ix_location_stand_in"}
CASES = {
    "anonymous, no filter": (ANONYMOUS, SearchFilters()),
    "anonymous, one need": (ANONYMOUS, SearchFilters(needs=("medical-care",))),
    "partner, rare need": (PARTNER, SearchFilters(needs=("safe-shelter",))),
    "cleared, rare need": (CLEARED, SearchFilters(needs=("safe-shelter",))),
    "partner, two needs": (PARTNER, SearchFilters(needs=("legal-aid", "anti-trafficking"))),
    "partner, need and eligibility": (
        PARTNER,
        SearchFilters(
            needs=("psychosocial-support",), age=12, gender="female", accepts_referrals=True
        ),
    ),
    "anonymous, need and radius": (
        ANONYMOUS,
        SearchFilters(needs=("medical-care",), radius_m=25_000),
    ),
    "cleared, capacity and language": (
        CLEARED,
        SearchFilters(needs=("safe-shelter",), has_capacity=True, language="fr"),
    ),
    "partner, no need, eligibility": (PARTNER, SearchFilters(age=30, group="women")),
    "anonymous, rare need and eligibility": (
        ANONYMOUS,
        SearchFilters(needs=("safe-shelter",), age=30, gender="male", accepts_referrals=False),
    ),
    "anonymous, need open at an hour": (
        ANONYMOUS,
        SearchFilters(needs=("medical-care",), open_hour=2 * 24 + 9),  # a Wednesday, 09:00 UTC
    ),
    "partner, need and area": (
        PARTNER,
        SearchFilters(
            needs=("emergency-police",), area_outline=NAIROBI, areas_within=(uuid.uuid4(),)
        ),
    ),
}
CASES |= {
    f"{case}, default radius": (viewer, replace(filters, radius_m=DEFAULT_RADIUS_M))
    for case, (viewer, filters) in CASES.items()
    if filters.radius_m is None
}


@pytest.fixture(scope="module")
async def planner(owner_engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction holding 100k generated points, rolled back after."""
    url = owner_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        await populate(connection, POINTS)
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "'{" + ",".join(str(item) for item in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


async def _explain(
    connection: asyncpg.Connection, viewer: Viewer, filters: SearchFilters, *, generic: bool
) -> list[dict[str, Any]]:
    """The plan the API runs: the statement as ``Compiled`` writes it, prepared, then explained
    as executed with a point in Nairobi (``EXPLAIN EXECUTE`` of a named prepared statement;
    EXPLAIN of the query with bound values would plan it for those values, never generically)."""
    statement = nearest_statement(viewer, filters, -1.2921, 36.8219, window=16)
    compiled = Compiled(statement, parameters=PARAMETERS)
    values = compiled.values(_values(filters, -1.2921, 36.8219))
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
    await connection.execute(f"PREPARE nearest AS {compiled.sql}")
    arguments = ", ".join(_literal(value) for value in values)
    try:
        [[explained]] = await connection.fetch(
            f"EXPLAIN (FORMAT JSON) EXECUTE nearest({arguments})"
        )
    finally:
        await connection.execute("DEALLOCATE nearest")
    plan = json.loads(explained) if isinstance(explained, str) else explained
    return _nodes(plan[0]["Plan"])


class TestNearestPlans:
    async def test_the_data_is_there(self, planner: asyncpg.Connection) -> None:
        assert await planner.fetchval("SELECT count(*) FROM location") >= POINTS
        assert await planner.fetchval("SELECT count(*) FROM search_point") > POINTS

    @pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
    @pytest.mark.parametrize("case", CASES)
    async def test_ordered_index_scan_without_sequential_scan(
        self, planner: asyncpg.Connection, case: str, generic: bool
    ) -> None:
        viewer, filters = CASES[case]
        nodes = await _explain(planner, viewer, filters, generic=generic)
        scanned = [node for node in nodes if node["Node Type"] == "Seq Scan"]
        assert not scanned, f"sequential scan of {[n['Relation Name'] for n in scanned]}"
        spatial = [node for node in nodes if node.get("Index Name") in GIST_INDEXES]
        assert spatial, "the candidates must come from a GiST index"
        if filters.area_outline is None:
            # Around a point: an ordered scan (ORDER BY <-> LIMIT), within a radius too, even
            # when planned for the values (a connection's first five calls): the point is bound
            # through scalar subqueries, so the planner cannot see that a radius holds many
            # rows and turn the plan into a bitmap scan and a sort of all of them (120 ms).
            # Within a small area it may rather collect the area's rows from the same index
            # and sort them.
            assert any(node.get("Order By") for node in spatial), "expected an ordered GiST scan"
        if filters.needs:
            # Each need's own partial index: only places meeting it are visited.
            assert {NEED_INDEXES.get(node["Index Name"]) for node in spatial} <= set(filters.needs)

    @pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
    @pytest.mark.parametrize("case", [case for case in CASES if CASES[case][1].needs])
    async def test_the_scan_checks_the_filters_itself(
        self, planner: asyncpg.Connection, case: str, generic: bool
    ) -> None:
        """Who a row is listed to is the index's own predicate, and the eligibility filters
        present are index conditions: rows that cannot pass are skipped inside the scan, never
        fetched and joined (issue 18)."""
        viewer, filters = CASES[case]
        nodes = await _explain(planner, viewer, filters, generic=generic)
        scans = [node for node in nodes if node.get("Index Name") in NEED_INDEXES]
        assert scans
        for node in scans:
            prefix = "public" if not viewer.sees_partner_records else None
            if prefix:
                assert node["Index Name"].startswith(f"ix_search_point_{prefix}_")
            condition = node.get("Index Cond", "")
            if filters.age is not None:
                assert "ages @>" in condition
            if filters.gender is not None:
                assert "genders @>" in condition
            if filters.accepts_referrals is not None:
                assert "intake =" in condition
            if filters.open_hour is not None:
                assert "hours @>" in condition

    @pytest.mark.parametrize(
        ("viewer", "filters"),
        [
            (ANONYMOUS, SearchFilters(needs=("safe-shelter",), radius_m=MAXIMUM_RADIUS_M)),
            (
                PARTNER,
                SearchFilters(needs=("safe-shelter",), gender="male", radius_m=MAXIMUM_RADIUS_M),
            ),
            (
                PARTNER,
                # A Saturday, 10:00 UTC: the generated health centres open on weekdays only.
                SearchFilters(
                    needs=("medical-care",), open_hour=5 * 24 + 10, radius_m=MAXIMUM_RADIUS_M
                ),
            ),
        ],
        ids=["shelters listed to partners only", "no shelter for men", "no clinic open"],
    )
    async def test_a_search_nothing_passes_reads_almost_nothing(
        self, planner: asyncpg.Connection, viewer: Viewer, filters: SearchFilters
    ) -> None:
        """The worst case of the ordered scan: no row passes, within 2,000 km. Checked after
        the scan, that read every row of the need within the radius (12,000 buffers for the
        shelters on 150k places); checked by the index, a few pages."""
        statement = nearest_statement(viewer, filters, -1.2921, 36.8219, window=16)
        compiled = Compiled(statement, parameters=PARAMETERS)
        values = compiled.values(_values(filters, -1.2921, 36.8219))
        await planner.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await planner.execute(f"PREPARE nothing AS {compiled.sql}")
        arguments = ", ".join(_literal(value) for value in values)
        try:
            [[explained]] = await planner.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE nothing({arguments})"
            )
        finally:
            await planner.execute("DEALLOCATE nothing")
        plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
        assert plan["Actual Rows"] == 0
        assert sum(node.get("Rows Removed by Filter", 0) for node in _nodes(plan)) == 0
        assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 100

    @pytest.mark.parametrize("radius_m", [None, DEFAULT_RADIUS_M], ids=["unbounded", "default"])
    @pytest.mark.parametrize(
        "viewer", [ANONYMOUS, PARTNER, CLEARED], ids=["anonymous", "partner", "cleared"]
    )
    async def test_every_need_has_its_index(
        self, planner: asyncpg.Connection, viewer: Viewer, radius_m: float | None
    ) -> None:
        """A need added to the taxonomy without its partial indexes would be searched by a
        sequential scan of every (place, need) row. An anonymous caller's search reads the
        index of rows listed to the public: no row listed to partners only is ever visited."""
        column = (
            "point" if viewer.cleared else "stand_in" if viewer.sees_partner_records else "public"
        )
        for code in NEED_CODES:
            filters = SearchFilters(needs=(code,), radius_m=radius_m)
            nodes = await _explain(planner, viewer, filters, generic=True)
            assert [node.get("Index Name") for node in nodes if node.get("Order By")] == [
                need_index_name(column, code)
            ], code


class TestPathwayPlans:
    """The pathway's one statement (``nearest_of_needs_statement``: every need of the taxonomy,
    and the services covering the point) as the API runs it: each need is the same ordered scan
    of its own partial index as a search for that need alone, whoever asks."""

    @pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
    @pytest.mark.parametrize(
        "viewer", [ANONYMOUS, PARTNER, CLEARED], ids=["anonymous", "partner", "cleared"]
    )
    async def test_each_need_is_an_ordered_scan_of_its_own_index(
        self, planner: asyncpg.Connection, viewer: Viewer, generic: bool
    ) -> None:
        filters = SearchFilters(radius_m=DEFAULT_RADIUS_M)
        statement = nearest_of_needs_statement(
            viewer,
            filters,
            -1.2921,
            36.8219,
            windows=tuple((code, 8) for code in NEED_CODES),
            with_covering=True,
        )
        compiled = Compiled(statement, parameters=PARAMETERS)
        values = compiled.values(_values(filters, -1.2921, 36.8219))
        mode = "force_generic_plan" if generic else "force_custom_plan"
        await planner.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await planner.execute(f"PREPARE pathway AS {compiled.sql}")
        arguments = ", ".join(_literal(value) for value in values)
        try:
            [[explained]] = await planner.fetch(
                f"EXPLAIN (FORMAT JSON) EXECUTE pathway({arguments})"
            )
        finally:
            await planner.execute("DEALLOCATE pathway")
        plan = json.loads(explained) if isinstance(explained, str) else explained
        nodes = _nodes(plan[0]["Plan"])
        column = (
            "point" if viewer.cleared else "stand_in" if viewer.sees_partner_records else "public"
        )
        ordered = [node.get("Index Name") for node in nodes if node.get("Order By")]
        assert ordered == [need_index_name(column, code) for code in NEED_CODES]
        scanned = {node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"}
        assert not scanned & {"search_point", "location", "service", "attribute", "organization"}


# Selective words of the generated directory ("Bench health service 4242", "Bench helpline KE"),
# and one no row has: what a person types, not a word every row holds (for which reading every
# row is the right plan).
SEARCH_TERMS = ("service 4242", "helpline", "no such place")
TRIGRAM_INDEXES = {
    f"ix_{table}_{column}_trgm"
    for table in ("service", "organization")
    for column in ("name", "alternate_name", "description")
}


async def _explain_statement(
    connection: asyncpg.Connection, statement: Select[Any], *, generic: bool
) -> list[dict[str, Any]]:
    """``statement`` as the API's session sends it (bound parameters, prepared), explained."""
    compiled = statement.compile(
        dialect=postgresql.asyncpg.dialect(),  # type: ignore[attr-defined]
        compile_kwargs={"render_postcompile": True},
    )
    values = [compiled.params[name] for name in compiled.positiontup or []]
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
    await connection.execute(f"PREPARE text_search AS {compiled.string}")
    arguments = ", ".join(_literal(value) for value in values)
    try:
        [[explained]] = await connection.fetch(
            f"EXPLAIN (FORMAT JSON) EXECUTE text_search({arguments})"
        )
    finally:
        await connection.execute("DEALLOCATE text_search")
    plan = json.loads(explained) if isinstance(explained, str) else explained
    return _nodes(plan[0]["Plan"])


def _page_statements(listed: Select[Any], order: Any) -> dict[str, Select[Any]]:
    """The two statements of an HSDS page (``api.repositories.directory._page``)."""
    return {
        "count": select(func.count()).select_from(listed.order_by(None).subquery()),
        "page": listed.order_by(*order).limit(50).offset(0),
    }


class TestTextSearchPlans:
    @pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
    @pytest.mark.parametrize("term", SEARCH_TERMS)
    @pytest.mark.parametrize("viewer", [ANONYMOUS, PARTNER], ids=["anonymous", "partner"])
    async def test_services_search_reads_the_trigram_indexes(
        self, planner: asyncpg.Connection, viewer: Viewer, term: str, generic: bool
    ) -> None:
        listed = filter_services(visible_services(viewer), DirectoryFilters(search=term))
        for name, statement in _page_statements(listed, SERVICE_ORDER).items():
            nodes = await _explain_statement(planner, statement, generic=generic)
            scanned = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
            assert "service" not in scanned, f"{name}: sequential scan of service"
            used = {node.get("Index Name") for node in nodes} & TRIGRAM_INDEXES
            assert used >= {"ix_service_name_trgm", "ix_service_description_trgm"}, name

    @pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
    @pytest.mark.parametrize("term", SEARCH_TERMS)
    async def test_organizations_search_can_read_the_trigram_indexes(
        self, planner: asyncpg.Connection, term: str, generic: bool
    ) -> None:
        """The 12,500 generated organisations fit in a few pages, which PostgreSQL rightly
        reads whole; with sequential scans priced out, the search must be one the trigram
        indexes serve (it is, from about 20,000 organisations on, unforced)."""
        listed = filter_organizations(
            visible_organizations(ANONYMOUS), DirectoryFilters(search=term)
        )
        await planner.execute("SET LOCAL enable_seqscan = off")
        try:
            for name, statement in _page_statements(listed, ORGANIZATION_ORDER).items():
                nodes = await _explain_statement(planner, statement, generic=generic)
                used = {node.get("Index Name") for node in nodes} & TRIGRAM_INDEXES
                assert used >= {
                    "ix_organization_name_trgm",
                    "ix_organization_description_trgm",
                }, name
        finally:
            await planner.execute("SET LOCAL enable_seqscan = on")


class TestOgcPagePlans:
    """The OGC items pages (``api.repositories.ogc``) as the API runs them: prepared once per
    connection (``api.db.Compiled``), so their plans become generic, with the box's numbers and
    the page's key as parameters. On 100k places a box is read through a location index and a
    next page through the primary key, never a scan of every location."""

    @pytest.mark.parametrize("caller", ["anonymous", "partner", "confidential"])
    async def test_the_generic_plans_use_the_indexes(
        self, planner: asyncpg.Connection, caller: str
    ) -> None:
        viewer = {"anonymous": ANONYMOUS, "partner": PARTNER, "confidential": CLEARED}[caller]
        box = ogc.BoundingBox(36.6, -1.45, 37.1, -1.15)
        after = ogc.Keyset(10, after=uuid.UUID(int=0))
        cases = [
            (ogc.services_statement(viewer, box, ogc.Keyset(10)), box, None, BOXED),
            (ogc.services_statement(viewer, None, after), None, after, {"pk_service_at_location"}),
            (
                ogc.areas_statement(box, ogc.Keyset(10), simplify=None),
                box,
                None,
                {"ix_admin_area_geom"},
            ),
        ]
        for statement, given_box, keyset, indexes in cases:
            compiled = Compiled(statement, parameters=ogc.PARAMETERS)
            given = {**ogc._box_values(given_box), "limit": 10, "redacted_name": "x"}
            if keyset is not None:
                given["after"] = keyset.after
            await planner.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await planner.execute(f"PREPARE ogc_page AS {compiled.sql}")
            arguments = ", ".join(_literal(value) for value in compiled.values(given))
            try:
                rows = await planner.fetch(f"EXPLAIN EXECUTE ogc_page({arguments})")
            finally:
                await planner.execute("DEALLOCATE ogc_page")
            plan = "\n".join(row[0] for row in rows)
            assert any(index in plan for index in indexes), plan
            assert "Seq Scan on location" not in plan, plan


# A box is read through the location's GiST, or its latitude or longitude btree (migration 0005).
BOXED = {"ix_location_point", "ix_location_latitude", "ix_location_longitude"}
