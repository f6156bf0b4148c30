"""A digital elevation model from a file, as the camera model's ground (rasterio, any CRS).

The DEM is read once into memory (capped), and sampled bilinearly at the points the camera's
rays try; its heights must be on the same datum as the heights the drone reports once the
height above the ground under it is added (``ThermalPipeline`` does that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.errors import RasterioError

from estran.domain.errors import InvalidInputError
from estran.domain.messages import msg

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from estran.domain.camera import LocalFrame

__all__ = ["MAX_DEM_CELLS", "dem_ground"]

MAX_DEM_CELLS = 64_000_000


def dem_ground(path: Path, frame: LocalFrame) -> Callable[[float, float], float]:
    """Height of the ground at local (east, north) metres, from the DEM at ``path``."""
    try:
        with rasterio.open(path) as ds:
            if ds.width * ds.height > MAX_DEM_CELLS:
                raise InvalidInputError(
                    msg(
                        "{name}: more than {MAX_DEM_CELLS} cells",
                        name=path.name,
                        MAX_DEM_CELLS=MAX_DEM_CELLS,
                    )
                )
            heights = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
            inverse = ~ds.transform
            crs = ds.crs
    except RasterioError as exc:
        raise InvalidInputError(
            msg("{name}: not a readable DEM ({exc})", name=path.name, exc=exc)
        ) from exc
    if crs is None:
        raise InvalidInputError(
            msg("{name}: the DEM has no coordinate reference system", name=path.name)
        )
    to_dem = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    rows, cols = heights.shape

    def ground(east: float, north: float) -> float:
        lat, lon = frame.to_latlon(east, north)
        x, y = to_dem.transform(lon, lat)
        c, r = inverse * (x, y)
        c, r = c - 0.5, r - 0.5  # cell centres
        c0, r0 = int(np.floor(c)), int(np.floor(r))
        if not (0 <= c0 < cols - 1 and 0 <= r0 < rows - 1):
            return float(heights[min(max(round(r), 0), rows - 1),
                                 min(max(round(c), 0), cols - 1)])  # fmt: skip
        fc, fr = c - c0, r - r0
        block = heights[r0 : r0 + 2, c0 : c0 + 2]
        top = block[0, 0] * (1 - fc) + block[0, 1] * fc
        bottom = block[1, 0] * (1 - fc) + block[1, 1] * fc
        value = float(top * (1 - fr) + bottom * fr)
        return value if np.isfinite(value) else 0.0

    return ground
