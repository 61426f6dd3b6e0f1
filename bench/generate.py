"""Generate N benchmark service points in the bench database, server-side.

Coordinates are real places from ``../shared/data/`` (WHO/KEMRI and healthsites.io health
facilities in sub-Saharan Africa, US law-enforcement locations), each jittered by up to about
5 km, so that density follows where services really are: dense capitals, sparse countryside.
Every point is one service of one organisation at one location, and its kind decides its needs
and eligibility with the proportions below (health centres dominate, shelters are few and
confidential). Every place is listed in a generated district (a 0.5-degree cell, about 55 km,
level 2): a confidential place is ranked, for callers who may not locate it, at a point of the
area it is listed in (migration 0013), and one listed nowhere would not be ranked at all.
``reintegration`` is the rare need (about 0.1 % of the points: specialist programmes of the
anti-trafficking organisations). A national helpline per country covers it with a service area
(the convex hull of its points). Ids are derived from the row number, so two runs with the same
N make the same rows.

Rows carry ``source = 'bench'``; a run with the same N already in place does nothing, another N
(or points generated before the districts) replaces them.

    usage: python -m bench.generate [--points N] [--database-url URL]
"""

import asyncio
import csv
import math
import os
import sys
import time
from pathlib import Path

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from api.taxonomy import NEED_CODES, term_id, unit_id

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCE = "bench"
SERVICES_PER_ORGANIZATION = 8
JITTER_DEGREES = 0.05
DISTRICT_DEGREES = 0.5  # generated districts: cells of this size holding at least one point
console = Console(stderr=True)

# (kind, share of services, organisation kind, needs: [(code, probability)])
KINDS: list[tuple[str, float, str, list[tuple[str, float]]]] = [
    (
        "health",
        0.50,
        "health",
        [
            ("medical-care", 1.0),
            ("maternal-infant-health", 0.4),
            ("post-rape-care", 0.15),
        ],
    ),
    ("police", 0.10, "police", [("emergency-police", 1.0), ("anti-trafficking", 0.1)]),
    (
        "psychosocial",
        0.12,
        "ngo",
        [
            ("psychosocial-support", 1.0),
            ("child-protection-case-management", 0.5),
            ("family-support", 0.4),
        ],
    ),
    ("legal", 0.06, "legal", [("legal-aid", 1.0)]),
    ("shelter", 0.02, "shelter", [("safe-shelter", 1.0), ("psychosocial-support", 0.5)]),
    (
        "education",
        0.12,
        "ngo",
        [
            ("education-literacy", 0.5),
            ("livelihoods", 0.5),
            ("early-childhood", 0.3),
        ],
    ),
    # The rare need: 3 % x 1/30, about 0.1 % of the points.
    ("trafficking", 0.03, "ngo", [("anti-trafficking", 1.0), ("reintegration", 1 / 30)]),
    (
        "committee",
        0.05,
        "committee",
        [
            ("child-protection-case-management", 1.0),
            ("family-support", 0.6),
        ],
    ),
]


# Opening hours are in a time zone chosen by longitude: (west of this longitude, zone).
ZONES: list[tuple[float, str]] = [
    (-100, "America/Denver"),
    (-30, "America/Chicago"),
    (15, "Africa/Lagos"),
    (30, "Africa/Johannesburg"),
    (180, "Africa/Nairobi"),
]


def time_zone(longitude: float) -> str:
    """The time zone of the generated opening hours of a place at ``longitude``."""
    return next((name for bound, name in ZONES if longitude < bound), ZONES[-1][1])


def _seeds() -> list[tuple[float, float, str]]:
    """Real coordinates: (latitude, longitude, country code)."""
    found: list[tuple[float, float, str]] = []
    sources = [
        (
            SHARED
            / "who_kemri_ssa_health_facilities"
            / "who_kemri_ssa_public_health_facilities.csv",
            "Lat",
            "Long",
            "iso3c",
        ),
        (SHARED / "healthsites_africa_osm" / "healthsites_africa.csv", "lat", "lon", "iso3c"),
        (
            SHARED / "hifld_us_law_enforcement" / "Local_Law_Enforcement_Locations.csv",
            "Y",
            "X",
            None,
        ),
    ]
    for path, lat_field, lon_field, country_field in sources:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                try:
                    latitude, longitude = float(row[lat_field]), float(row[lon_field])
                except (TypeError, ValueError):
                    continue
                if not (math.isfinite(latitude) and math.isfinite(longitude)):
                    continue
                if abs(latitude) > 85 or abs(longitude) > 180 or (latitude == 0 and longitude == 0):
                    continue
                country = (row[country_field] or "UNK") if country_field else "USA"
                found.append((latitude, longitude, country))
    return found


def _kind_case(column: str) -> str:
    """SQL CASE mapping a uniform random ``column`` to a kind, by the shares above."""
    parts, bound = [], 0.0
    for kind, share, _, _ in KINDS:
        bound += share
        parts.append(f"WHEN {column} < {bound:.4f} THEN '{kind}'")
    return "CASE " + " ".join(parts) + f" ELSE '{KINDS[-1][0]}' END"


async def _existing(connection: asyncpg.Connection) -> int:
    """The generated points in place; -1 when they predate the generated districts."""
    points, districts = await connection.fetchrow(
        "SELECT EXISTS (SELECT FROM service WHERE source = $1), "
        "EXISTS (SELECT FROM admin_area WHERE source = $1)",
        SOURCE,
    )
    if points and not districts:
        return -1
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM service WHERE source = $1 AND source_id NOT LIKE 'hotline-%'",
            SOURCE,
        )
    )


async def _delete(connection: asyncpg.Connection) -> None:
    service_ids = "SELECT id FROM service WHERE source = 'bench'"
    for statement in [
        f"DELETE FROM attribute WHERE link_entity = 'service' AND link_id IN ({service_ids})",
        f"DELETE FROM phone WHERE service_id IN ({service_ids})",
        f"DELETE FROM language WHERE service_id IN ({service_ids})",
        f"DELETE FROM schedule WHERE service_id IN ({service_ids})",
        f"DELETE FROM service_capacity WHERE service_id IN ({service_ids})",
        f"DELETE FROM service_area WHERE service_id IN ({service_ids})",
        f"DELETE FROM service_at_location WHERE service_id IN ({service_ids})",
        "DELETE FROM service WHERE source = 'bench'",
        "DELETE FROM location WHERE source = 'bench'",
        "DELETE FROM organization WHERE source = 'bench'",
        "DELETE FROM admin_area WHERE source = 'bench'",
    ]:
        await connection.execute(statement)


def _steps(points: int, seed_count: int) -> list[tuple[str, str]]:
    needs_rows = []
    for kind, _, _, needs in KINDS:
        for position, (code, probability) in enumerate(needs):
            needs_rows.append(f"('{kind}', '{code}', {probability}, {position})")
    zone = (
        "CASE "
        + " ".join(f"WHEN p.lon < {bound} THEN '{name}'" for bound, name in ZONES[:-1])
        + f" ELSE '{ZONES[-1][1]}' END"
    )
    kinds_table = ", ".join(f"('{k}', '{org_kind}')" for k, _, org_kind, _ in KINDS)
    return [
        (
            "planning points",
            f"""
            SELECT setseed(0.2026);
            CREATE TEMP TABLE bench_point AS
            SELECT g AS n, picked.lat, picked.lon, picked.country,
                   md5('bench-service-' || g)::uuid AS service_id,
                   md5('bench-location-' || g)::uuid AS location_id,
                   md5('bench-link-' || g)::uuid AS link_id,
                   md5('bench-organization-' || (g / {SERVICES_PER_ORGANIZATION}))::uuid
                       AS organization_id,
                   {_kind_case("r.kind")} AS kind, r.a, r.b, r.c,
                   md5('bench-district-' || floor((picked.lon + 180) / {DISTRICT_DEGREES}) || '-'
                       || floor((picked.lat + 90) / {DISTRICT_DEGREES}))::uuid AS district_id
            FROM generate_series(0, {points - 1}) AS g
            CROSS JOIN LATERAL (
                SELECT random() AS kind, random() AS a, random() AS b, random() AS c,
                       floor(random() * {seed_count})::int AS seed, random() AS dy, random() AS dx
                WHERE g >= 0
            ) AS r
            JOIN bench_seed AS s ON s.n = r.seed
            CROSS JOIN LATERAL (
                SELECT greatest(-85, least(85, s.lat + (r.dy - 0.5) * {2 * JITTER_DEGREES})) AS lat,
                       ((s.lon + (r.dx - 0.5) * {2 * JITTER_DEGREES} + 540)::numeric % 360 - 180)
                           ::float8 AS lon,
                       s.country
            ) AS picked;
            CREATE TEMP TABLE bench_kind(kind text, organization_kind text);
            INSERT INTO bench_kind VALUES {kinds_table};
            CREATE TEMP TABLE bench_need(kind text, code text, probability float8, position int);
            INSERT INTO bench_need VALUES {", ".join(needs_rows)};
            """,
        ),
        (
            "organisations",
            f"""
            INSERT INTO organization (id, name, kind, status, description, visibility, source,
                                      source_id)
            SELECT DISTINCT ON (p.organization_id) p.organization_id,
                   'Bench organisation ' || (p.n / {SERVICES_PER_ORGANIZATION}),
                   k.organization_kind, 'active', 'Generated for the benchmark.',
                   'public', '{SOURCE}', (p.n / {SERVICES_PER_ORGANIZATION})::text
            FROM bench_point AS p JOIN bench_kind AS k USING (kind)
            ORDER BY p.organization_id, p.n;
            """,
        ),
        (
            "districts",
            f"""
            INSERT INTO admin_area (id, name, level, code, country, geom, source, source_id)
            SELECT district_id, 'Bench district ' || x || ' ' || y, 2, x || '-' || y, country,
                   ST_Multi(ST_MakeEnvelope(x * {DISTRICT_DEGREES} - 180,
                                            greatest(-90, y * {DISTRICT_DEGREES} - 90),
                                            (x + 1) * {DISTRICT_DEGREES} - 180,
                                            least(90, (y + 1) * {DISTRICT_DEGREES} - 90), 4326)),
                   '{SOURCE}', 'district-' || x || '-' || y
            FROM (
                SELECT district_id, floor((lon + 180) / {DISTRICT_DEGREES})::int AS x,
                       floor((lat + 90) / {DISTRICT_DEGREES})::int AS y,
                       mode() WITHIN GROUP (ORDER BY country) AS country
                FROM bench_point GROUP BY 1, 2, 3
            ) AS cells;
            ANALYZE admin_area;
            """,
        ),
        (
            "locations",
            f"""
            INSERT INTO location (id, organization_id, location_type, name, latitude, longitude,
                                  region_key, visibility, admin_area_id, source, source_id)
            SELECT p.location_id, p.organization_id, 'physical', 'Bench place ' || p.n,
                   p.lat, p.lon, ST_GeoHash(ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326), 3),
                   CASE WHEN p.kind = 'shelter' THEN 'confidential' ELSE 'public' END,
                   p.district_id, '{SOURCE}', p.n::text
            FROM bench_point AS p;
            """,
        ),
        (
            "services",
            f"""
            INSERT INTO service (id, organization_id, name, status, minimum_age, maximum_age,
                                 genders, target_groups, accepts_referrals, visibility, source,
                                 source_id)
            SELECT p.service_id, p.organization_id, 'Bench ' || p.kind || ' service ' || p.n,
                   CASE WHEN p.c < 0.03 THEN 'temporarily closed' ELSE 'active' END,
                   CASE WHEN p.kind IN ('education', 'committee') AND p.a < 0.5 THEN 0
                        WHEN p.kind = 'legal' AND p.a < 0.3 THEN 18 END,
                   CASE WHEN p.kind IN ('education', 'committee') AND p.a < 0.5 THEN 17 END,
                   CASE WHEN p.kind = 'shelter' OR (p.kind = 'health' AND p.b < 0.05)
                        THEN ARRAY['female'] ELSE '{{}}'::text[] END,
                   CASE WHEN p.kind = 'shelter' THEN ARRAY['women', 'survivors_of_gbv']
                        WHEN p.kind = 'trafficking' THEN ARRAY['survivors_of_trafficking']
                        WHEN p.kind = 'education' AND p.b < 0.3 THEN ARRAY['adolescent_girls']
                        ELSE '{{}}'::text[] END,
                   p.kind <> 'health' OR p.b < 0.6,
                   CASE WHEN p.kind = 'shelter' OR p.b > 0.95 THEN 'partners' ELSE 'public' END,
                   '{SOURCE}', p.n::text
            FROM bench_point AS p;
            """,
        ),
        (
            "service at locations",
            """
            INSERT INTO service_at_location (id, service_id, location_id, region_key)
            SELECT p.link_id, p.service_id, p.location_id,
                   ST_GeoHash(ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326), 3)
            FROM bench_point AS p;
            ANALYZE location; ANALYZE service; ANALYZE service_at_location;
            """,
        ),
        # Before the needs: the needs make the search_point rows, which then read their hours
        # (migration 0016); hours written after them would write every row again.
        (
            "phones, languages, opening hours",
            f"""
            INSERT INTO phone (id, service_id, number, type)
            SELECT md5('bench-phone-' || p.n)::uuid, p.service_id,
                   '+000 ' || lpad((p.n % 100000000)::text, 8, '0'), 'voice'
            FROM bench_point AS p;
            INSERT INTO schedule (id, service_id, freq, byday, opens_at, closes_at, time_zone,
                                  description)
            SELECT md5('bench-schedule-' || p.n)::uuid, p.service_id, 'WEEKLY',
                   CASE WHEN p.kind IN ('police', 'shelter') THEN 'MO,TU,WE,TH,FR,SA,SU'
                        ELSE 'MO,TU,WE,TH,FR' END,
                   CASE WHEN p.kind IN ('police', 'shelter') THEN '00:00'::time
                        ELSE '08:00'::time END,
                   CASE WHEN p.kind IN ('police', 'shelter') THEN '23:59'::time
                        ELSE '17:00'::time END,
                   {zone}, 'Generated opening hours'
            FROM bench_point AS p
            WHERE p.a < 0.6;
            INSERT INTO language (id, service_id, code)
            SELECT md5('bench-language-' || p.n)::uuid, p.service_id,
                   CASE WHEN p.c < 0.45 THEN 'en' WHEN p.c < 0.75 THEN 'fr'
                        WHEN p.c < 0.85 THEN 'pt' ELSE 'sw' END
            FROM bench_point AS p;
            INSERT INTO service_capacity (id, service_id, unit_id, available, maximum)
            SELECT md5('bench-capacity-' || p.n)::uuid, p.service_id, '{unit_id("bed")}',
                   floor(p.b * 6)::int, 6
            FROM bench_point AS p
            WHERE p.kind = 'shelter';
            """,
        ),
        (
            "needs",
            """
            INSERT INTO attribute (id, link_id, link_type, link_entity, taxonomy_term_id)
            SELECT md5('bench-attribute-' || p.n || '-' || n.code)::uuid, p.service_id,
                   'service', 'service', t.term
            FROM bench_point AS p
            JOIN bench_need AS n ON n.kind = p.kind
            JOIN bench_term AS t ON t.code = n.code
            WHERE n.position = 0 OR (('x' || substr(md5(p.n || n.code), 1, 8))::bit(32)::bigint
                                     / 4294967296.0) < n.probability;
            """,
        ),
        (
            "helplines",
            f"""
            INSERT INTO organization (id, name, kind, status, description, visibility, source,
                                      source_id)
            SELECT md5('bench-hotline-' || country)::uuid, 'Bench helpline ' || country,
                   'hotline', 'active', 'Generated for the benchmark.', 'public', '{SOURCE}',
                   'hotline-' || country
            FROM (SELECT DISTINCT country FROM bench_point) AS c;
            INSERT INTO service (id, organization_id, name, status, accepts_referrals, visibility,
                                 source, source_id)
            SELECT md5('bench-hotline-service-' || country)::uuid,
                   md5('bench-hotline-' || country)::uuid, 'Bench helpline ' || country,
                   'active', true, 'public', '{SOURCE}', 'hotline-' || country
            FROM (SELECT DISTINCT country FROM bench_point) AS c;
            INSERT INTO service_area (id, service_id, name, extent)
            SELECT md5('bench-hotline-area-' || country)::uuid,
                   md5('bench-hotline-service-' || country)::uuid, country,
                   ST_SetSRID(ST_Multi(hull), 4326)
            FROM (
                SELECT country, ST_ConvexHull(ST_Collect(ST_MakePoint(lon, lat))) AS hull
                FROM bench_point GROUP BY country
            ) AS hulls
            WHERE GeometryType(hull) = 'POLYGON';
            INSERT INTO attribute (id, link_id, link_type, link_entity, taxonomy_term_id)
            SELECT md5('bench-hotline-attribute-' || country)::uuid,
                   md5('bench-hotline-service-' || country)::uuid, 'service', 'service',
                   '{term_id("helpline")}'
            FROM (SELECT DISTINCT country FROM bench_point) AS c;
            """,
        ),
        (
            "statistics",
            "ANALYZE organization; ANALYZE location; ANALYZE service; "
            "ANALYZE service_at_location; ANALYZE attribute; ANALYZE search_point; "
            "ANALYZE phone; ANALYZE language; ANALYZE schedule; ANALYZE service_capacity; "
            "ANALYZE service_area;",
        ),
    ]


async def populate(
    connection: asyncpg.Connection, points: int, *, progress: Progress | None = None
) -> None:
    """Insert ``points`` generated services in the caller's transaction (temporary tables are
    dropped at commit); ``tests/test_search_plans.py`` uses it on a rolled-back transaction."""
    seeds = _seeds()
    steps = _steps(points, len(seeds))
    task = progress.add_task("loading coordinates", total=len(steps)) if progress else None
    await connection.execute(
        "CREATE TEMP TABLE bench_seed(n int PRIMARY KEY, lat float8, lon float8, country text) "
        "ON COMMIT DROP; CREATE TEMP TABLE bench_term(code text, term uuid) ON COMMIT DROP"
    )
    await connection.copy_records_to_table(
        "bench_seed", records=[(i, *seed) for i, seed in enumerate(seeds)]
    )
    await connection.copy_records_to_table(
        "bench_term", records=[(code, term_id(code)) for code in NEED_CODES]
    )
    for description, statement in steps:
        if progress and task is not None:
            progress.update(task, description=description)
        await connection.execute(statement)
        if progress and task is not None:
            progress.advance(task)
    await connection.execute(
        "DROP TABLE bench_point; DROP TABLE bench_kind; DROP TABLE bench_need; "
        "DROP TABLE bench_seed; DROP TABLE bench_term"
    )


async def generate(database_url: str, points: int) -> None:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        if await _existing(connection) == points:
            console.print(f"bench: {points:,} points already in place")
            return
        started = time.monotonic()
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            async with connection.transaction():
                await _delete(connection)
                await populate(connection, points, progress=progress)
        console.print(f"bench: {points:,} points generated in {time.monotonic() - started:.0f} s")
    finally:
        await connection.close()


def main(
    points: int = typer.Option(1_000_000, "--points", min=1, help="Service points to generate."),
    database_url: str = typer.Option(
        "", "--database-url", help="Owner URL of the bench database (default: from environment)."
    ),
) -> None:
    url = database_url or os.environ.get("RELAY_MIGRATION_DATABASE_URL", "")
    if not url:
        console.print("bench: set RELAY_MIGRATION_DATABASE_URL or pass --database-url")
        sys.exit(2)
    asyncio.run(generate(url, points))


if __name__ == "__main__":
    typer.run(main)
