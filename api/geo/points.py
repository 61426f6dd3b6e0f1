"""PostGIS points of a latitude and a longitude, on WGS 84 (SRID 4326).

PostGIS, like GeoJSON, takes the longitude first; these take the latitude first, as every caller
of ours names them. Either may be a value or a bound parameter.
"""

from typing import Any

from sqlalchemy import func

WGS84 = 4326


def geometry_point(latitude: Any, longitude: Any) -> Any:
    """A geometry point: for comparing with area outlines (``ST_Intersects``, ``ST_Contains``)."""
    return func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)


def geography_point(latitude: Any, longitude: Any) -> Any:
    """A geography point: distances to it in metres on the WGS 84 ellipsoid."""
    return func.geography(geometry_point(latitude, longitude))
