"""The coarse ``region_key`` of located rows: a geohash prefix (cells of about 156 by 156 km).

It groups nearby rows without needing administrative boundaries, so it can serve later as a
partitioning or distribution key (docs/scaling.md). Coarse on purpose: it never locates a place.
"""

_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
REGION_KEY_PRECISION = 3


def geohash(latitude: float, longitude: float, precision: int) -> str:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("coordinates out of range")
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    code: list[str] = []
    bits, value, even = 0, 0, True
    while len(code) < precision:
        interval, coordinate = (lon_range, longitude) if even else (lat_range, latitude)
        middle = (interval[0] + interval[1]) / 2
        value <<= 1
        if coordinate >= middle:
            value |= 1
            interval[0] = middle
        else:
            interval[1] = middle
        even = not even
        bits += 1
        if bits == 5:
            code.append(_BASE32[value])
            bits, value = 0, 0
    return "".join(code)


def region_key(latitude: float, longitude: float) -> str:
    return geohash(latitude, longitude, REGION_KEY_PRECISION)
