"""Measuring the thermal pipeline on flights with ground truth.

- **Detection**, per class, frame by frame: a thing in view is found when a detection of its
  class lies within ``match_m`` of it (one-to-one, Hungarian); recall per class (groups in the
  open, groups at the tree edge, boats, engines) and precision over every detection.
- **Tracking** (groups, boats, engines): MOTA (1 - (misses + false tracks + identity switches)
  / things in view) and IDF1 (the share of correctly identified detections, with the one-to-one
  mapping of true to tracked identities that maximises it: Ristani et al. 2016).
- **Georeferencing**, on people one by one: the distance from each detected person to the
  nearest true one, against the CEP50 propagated from the telemetry's stated accuracy: their
  medians should agree, and about half the errors should fall within their own CEP50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from estran.domain.camera import Intrinsics, Pose, PoseSigma, cep50, pixel_to_ground
from estran.domain.thermal import Detector, DetectorParams, GroundDetection, GroundTracker

if TYPE_CHECKING:
    from collections.abc import Iterable

    from estran.sim.thermal_flight import Frame, Thing

__all__ = ["ThermalScore", "evaluate_flight"]

FAMILY = {"group": "group", "person": "group", "boat": "boat", "engine": "engine"}


@dataclass
class ThermalScore:
    frames: int = 0
    found: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    true_detections: int = 0
    detections: int = 0
    count_errors: list[float] = field(default_factory=list)
    gt_frames: int = 0
    misses: int = 0
    false_tracks: int = 0
    switches: int = 0
    pairs: dict[tuple[int, int], int] = field(default_factory=dict)
    track_frames: int = 0
    errors_m: list[float] = field(default_factory=list)
    predicted_cep_m: list[float] = field(default_factory=list)

    def recall(self, key: str) -> float:
        return self.found.get(key, 0) / max(self.present.get(key, 0), 1)

    @property
    def precision(self) -> float:
        return self.true_detections / max(self.detections, 1)

    @property
    def mota(self) -> float:
        return 1.0 - (self.misses + self.false_tracks + self.switches) / max(self.gt_frames, 1)

    @property
    def idf1(self) -> float:
        if not self.pairs:
            return 0.0
        gts = sorted({g for g, _ in self.pairs})
        trs = sorted({t for _, t in self.pairs})
        m = np.zeros((len(gts), len(trs)))
        for (g, t), n in self.pairs.items():
            m[gts.index(g), trs.index(t)] = n
        rows, cols = linear_sum_assignment(-m)
        idtp = float(m[rows, cols].sum())
        return 2 * idtp / max(self.gt_frames + self.track_frames, 1)

    @property
    def cep50_measured_m(self) -> float:
        return float(np.median(self.errors_m)) if self.errors_m else math.nan

    @property
    def cep50_predicted_m(self) -> float:
        return float(np.median(self.predicted_cep_m)) if self.predicted_cep_m else math.nan

    @property
    def within_own_cep(self) -> float:
        e, c = np.asarray(self.errors_m), np.asarray(self.predicted_cep_m)
        return float(np.mean(e <= c)) if len(e) else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "recall": {k: self.recall(k) for k in sorted(self.present)},
            "present": dict(sorted(self.present.items())),
            "precision": self.precision,
            "count_error_mean": float(np.mean(self.count_errors)) if self.count_errors else None,
            "mota": self.mota,
            "idf1": self.idf1,
            "identity_switches": self.switches,
            "cep50_measured_m": self.cep50_measured_m,
            "cep50_predicted_m": self.cep50_predicted_m,
            "within_own_cep50": self.within_own_cep,
            "georeferenced_people": len(self.errors_m),
        }


def _key(t: Thing) -> str:
    if t.cls == "group":
        return "group (tree edge)" if t.edge else "group (open)"
    return t.cls


def _match(
    things: list[Thing], dets: list[tuple[float, float, str, float]], within: float
) -> list[tuple[int, int]]:
    """One-to-one matches (thing, detection) of the same family, where the thing lies within
    ``within`` metres of the detection or within three standard deviations of its stated
    error (its major axis): a detection is right when the truth is where it says it may be."""
    if not things or not dets:
        return []
    cost = np.full((len(things), len(dets)), 1e9)
    for i, t in enumerate(things):
        for j, (e, n, cls, major) in enumerate(dets):
            d = math.hypot(t.east - e, t.north - n)
            if d <= max(within, 3.0 * major) and FAMILY[cls] == FAMILY[t.cls]:
                cost[i, j] = d
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e9]


def evaluate_flight(
    frames: Iterable[Frame],
    cam: Intrinsics,
    params: DetectorParams | None = None,
    sigma: PoseSigma | None = None,
    *,
    fps: float = 10.0,
    match_m: float = 6.0,
) -> ThermalScore:
    params = params or DetectorParams()
    sigma = sigma or PoseSigma()
    detector = Detector(cam, params, sigma)
    singles = Detector(cam, replace(params, group_m=0.0), sigma)
    tracker = GroundTracker()
    score = ThermalScore()
    last: dict[int, int] = {}  # true id -> track id it was last matched to
    for f in frames:
        score.frames += 1
        dets = detector.frame(f.pixels, f.reported)
        things = [t for t in f.truth if t.in_view and t.cls != "person"]
        for t in things:
            score.present[_key(t)] = score.present.get(_key(t), 0) + 1
        placed = [(d.east, d.north, d.cls, d.semi_major_m) for d in dets]
        found = _match(things, placed, match_m)
        for i, j in found:
            score.found[_key(things[i])] = score.found.get(_key(things[i]), 0) + 1
            if things[i].cls == "group" and things[i].count:
                score.count_errors.append(abs(dets[j].count - things[i].count) / things[i].count)
        # Precision: a detection is true if it lies near anything really there (in view or
        # at the frame's edge), of its family.
        near_all = [t for t in f.truth if t.cls != "person"]
        score.true_detections += len(_match(near_all, placed, match_m))
        score.detections += len(dets)
        # Tracking.
        tracks = tracker.step(dets, 1.0 / fps)
        score.gt_frames += len(things)
        score.track_frames += len(tracks)
        at = [(float(t.x[0]), float(t.x[1]), t.cls, t.last.semi_major_m if t.last else 0.0)
              for t in tracks]  # fmt: skip
        pairs = _match(things, at, match_m)
        score.misses += len(things) - len(pairs)
        score.false_tracks += len(tracks) - len(pairs)
        for i, j in pairs:
            gid, tid = things[i].id, tracks[j].id
            if gid in last and last[gid] != tid:
                score.switches += 1
            last[gid] = tid
            score.pairs[(gid, tid)] = score.pairs.get((gid, tid), 0) + 1
        # Georeferencing, person by person.
        _georeference(score, singles.frame(f.pixels, f.reported), f.truth, f.true, cam)
    return score


def _georeference(
    score: ThermalScore,
    people: list[GroundDetection],
    truth: list[Thing],
    true: Pose,
    cam: Intrinsics,
) -> None:
    """Each detected person against the true person it images: the blob's pixel through the
    *true* pose lands on that person (within a few centimetres), so the match is unambiguous
    even in a tight group; the error is where the *reported* pose put it."""
    true_people = np.array([[t.east, t.north] for t in truth if t.cls == "person"])
    if not len(true_people):
        return
    for d in people:
        if d.cls != "group" or d.count != 1:
            continue
        ge, gn = pixel_to_ground(d.u, d.v, true, cam)
        dist = np.hypot(true_people[:, 0] - ge, true_people[:, 1] - gn)
        k = int(np.argmin(dist))
        if dist[k] > 0.5:  # not a person we placed: a false alarm, not a georeferencing error
            continue
        score.errors_m.append(float(math.hypot(d.east - true_people[k, 0],
                                               d.north - true_people[k, 1])))  # fmt: skip
        score.predicted_cep_m.append(cep50(d.cov))
