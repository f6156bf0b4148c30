"""A user-supplied learned detector (ONNX, run by onnxruntime on the CPU), in place of the
hot-spot detector's first stage. Nothing is downloaded and no weights ship with Estran.

The model's contract: one input, the frame as float32 ``[1, 1, H, W]`` in kelvin above the
frame's median (so the model sees contrast, whatever the night's temperature); one output,
``[1, 1, H, W]`` (or ``[1, H, W]``, ``[H, W]``): a per-pixel score, where what scores above
``threshold`` is a warm thing worth a look. Its blobs then go through the same sizes, classes,
grouping, georeferencing and tracking as the hot-spot detector's (``domain/thermal.py``), so a
model only has to be good at finding, not at everything else.

Install the runtime with ``pip install 'estran[learned]'``; without it, a clear error says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from estran.domain.errors import InvalidInputError
from estran.domain.messages import msg
from estran.domain.thermal import Blob, DetectorParams, blobs_of

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

__all__ = ["MAX_MODEL_BYTES", "OnnxFinder"]

MAX_MODEL_BYTES = 512 * 1024 * 1024


class OnnxFinder:
    """Finds blobs with a user's ONNX model; callable as ``Detector.find``."""

    def __init__(self, model: Path, threshold: float = 0.5) -> None:
        try:
            import onnxruntime as ort  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover (the dev environment has it)
            raise InvalidInputError(
                msg("a learned detector needs onnxruntime: pip install 'estran[learned]'")
            ) from exc
        if not model.is_file():
            raise InvalidInputError(msg("no model file at {model}", model=model))
        if model.stat().st_size > MAX_MODEL_BYTES:
            raise InvalidInputError(
                msg(
                    "{name} is larger than {MAX_MODEL_BYTES} bytes",
                    name=model.name,
                    MAX_MODEL_BYTES=MAX_MODEL_BYTES,
                )
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self.session: Any = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad model
            raise InvalidInputError(
                msg("{name}: not a usable ONNX model ({exc})", name=model.name, exc=exc)
            ) from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InvalidInputError(
                msg("{name}: the model must take one input (the frame)", name=model.name)
            )
        self.input = inputs[0].name
        self.threshold = threshold

    def __call__(self, frame: npt.NDArray[np.generic], params: DetectorParams) -> list[Blob]:
        f = np.asarray(frame, dtype=np.float32)
        if f.ndim != 2:
            raise ValueError(f"a thermal frame is one 2-D image, not {f.shape}")
        above = (f - np.float32(np.median(f[::3, ::3]))).astype(np.float32)  # counts
        kelvin = (above * np.float32(params.kelvin_per_count))[None, None]
        (score, *_) = self.session.run(None, {self.input: kelvin})
        found = np.asarray(score, dtype=np.float32).reshape(f.shape) > self.threshold
        return blobs_of(found, above, params)
