"""Every projector (pyproj on the area's CRS; the local-plane fake) agrees with itself:
there and back is the same point, and the array forms match the scalar ones."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from estran.adapters.fakes import PlaneProjector
from estran.adapters.terrain_io import Projector
from estran.domain.prepared import Projector as ProjectorPort

PROJECTORS: dict[str, ProjectorPort] = {
    "pyproj": Projector("EPSG:2154"),
    "plane": PlaneProjector(),
}


@pytest.mark.parametrize("name", PROJECTORS)
def test_there_and_back_is_the_same_point_and_metres_are_metres(name):
    p = PROJECTORS[name]
    wissant = (1.664, 50.886)
    x, y = p.to_xy(*wissant)
    lon, lat = p.to_lonlat(x, y)
    assert (lon, lat) == pytest.approx(wissant, abs=1e-7)
    x2, y2 = p.to_xy(wissant[0], wissant[1] + 0.01)  # 0.01° of latitude: about 1.11 km north
    assert np.hypot(x2 - x, y2 - y) == pytest.approx(1112.0, rel=0.01)


@pytest.mark.parametrize("name", PROJECTORS)
def test_arrays_and_geometries_match_the_scalar_answers(name):
    p = PROJECTORS[name]
    lons, lats = np.array([1.6, 1.7, 1.8]), np.array([50.8, 50.9, 51.0])
    xs, ys = p.many_to_xy(lons, lats)
    for i in range(3):
        assert (xs[i], ys[i]) == pytest.approx(p.to_xy(lons[i], lats[i]), abs=1e-6)
    back = p.many_to_lonlat(xs, ys)
    assert np.allclose(back[0], lons)
    assert np.allclose(back[1], lats)
    line = p.geometry_to_xy(LineString(list(zip(lons, lats, strict=True))))
    assert np.allclose(np.asarray(line.coords), np.column_stack([xs, ys]))
    assert np.allclose(np.asarray(p.geometry_to_lonlat(line).coords),
                       np.column_stack([lons, lats]))  # fmt: skip
