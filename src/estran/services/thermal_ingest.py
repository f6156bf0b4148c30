"""Thermal streams into the command centre: one pipeline per drone sensor, written through the
ledger as the caller, the thumbnails kept for the imagery retention period.

A frame arrives (``POST /api/v1/sensors/{id}/thermal``) with its telemetry; the sensor must be
a thermal drone the caller can see; the frame runs through that sensor's pipeline in a worker
thread (one frame at a time per sensor, in order); the detections it reports are committed
like any other sensor's, and each one's thumbnail is stored under its id.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from estran.domain.errors import NotFoundError, ValidationFailedError
from estran.domain.messages import msg
from estran.services.thermal import ThermalPipeline

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from estran.domain.picture import Picture
    from estran.domain.policy import Principal
    from estran.ports import BlobFinder, ChipStore, FrameCodec
    from estran.services.ledger import Ledger
    from estran.services.thermal_profile import CameraProfile

__all__ = ["ThermalService"]


class ThermalService:
    def __init__(
        self,
        ledger: Ledger,
        picture: Picture,
        chips: ChipStore,
        profile: CameraProfile,
        codec: FrameCodec,
        now: Callable[[], datetime],
        find: BlobFinder | None = None,
    ) -> None:
        self.ledger = ledger
        self.picture = picture
        self.chips = chips
        self.profile = profile
        self.codec = codec
        self.now = now
        self.find = find  # a learned model's blob finder, if the profile names one
        self.pipelines: dict[str, ThermalPipeline] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.skipped = 0

    async def ingest(
        self,
        sensor_id: str,
        frame: bytes,
        telemetry: dict[str, Any],
        who: Principal,
        visible: Callable[[Any], bool],
        source: str,
    ) -> dict[str, Any]:
        sensor = self.picture.get("sensor", sensor_id)
        if sensor is None or not visible(sensor):
            raise NotFoundError("sensor", sensor_id)
        if sensor.get("kind") != "drone_thermal":
            raise ValidationFailedError(
                msg(
                    "sensor {sensor_id} is a {kind}, not a thermal drone camera",
                    sensor_id=sensor_id,
                    kind=sensor.get("kind"),
                )
            )
        lock = self._locks.setdefault(sensor_id, asyncio.Lock())
        async with lock:
            pipeline = self.pipelines.get(sensor_id)
            if pipeline is None:
                pipeline = self.pipelines[sensor_id] = ThermalPipeline(
                    self.profile, sensor_id, self.codec, find=self.find
                )
            out = await asyncio.to_thread(pipeline.process, frame, telemetry)
            if out.skipped:
                self.skipped += 1
                return {"skipped": out.skipped, "detections": 0, "written": []}
            written: list[str] = []
            if out.commands:
                events = await self.ledger.submit(
                    out.commands, actor=who.id, source=source, principal=who
                )
                now = self.now()
                for event, png in zip(events, out.chips, strict=True):
                    await asyncio.to_thread(self.chips.put, event.entity_id, png, now)
                    written.append(event.entity_id)
            return {
                "skipped": None,
                "detections": out.detections,
                "tracks": out.tracks,
                "written": written,
            }
