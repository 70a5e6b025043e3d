"""prelabel's own endpoint protocol (served by ``prelabel.service``); the contract is fixed:

``POST <base>/invocations`` with the raw image bytes as the body (``Content-Type: image/png`` or ``image/jpeg``),
optional query ``min_score``; a 200 answer is JSON ``{"model": "<id>@<version>", "width": W, "height": H,
"labels": [Label, ...]}`` (labels as in :mod:`prelabel.core.labels`); errors are JSON ``{"error": "..."}`` with a 4xx
or 5xx status. A model reference ``http://host:8080/endpoints/foo`` means base = that URL.

Categories map onto class ids over COCO-80 (or ``classes=``); a category outside the list is appended to it, so
nothing the endpoint returns is dropped. Labels carry the model id and version the endpoint reports.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.labels import Label
from prelabel.models.endpoints.http import EndpointClient, EndpointError


class PrelabelEndpointDetector:
    def __init__(
        self,
        url: str,
        *,
        classes: Any = "coco80",
        min_score: float | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        encoding: str = "png",
        **_: Any,
    ) -> None:
        from prelabel.models.registry import read_classes
        from prelabel.models.zoo import CLASS_LISTS

        if encoding not in ("png", "jpeg"):
            from prelabel.errors import UnknownNameError

            raise UnknownNameError("image encoding", encoding, ["jpeg", "png"])
        self.url = url.rstrip("/")
        spec = read_classes(classes) if not isinstance(classes, str) or classes not in CLASS_LISTS else classes
        self.classes: list[str] = list(CLASS_LISTS[spec] if isinstance(spec, str) else spec)
        self.min_score = min_score
        self.encoding = encoding
        self._client = EndpointClient(timeout=timeout, retries=retries)
        path = [p for p in urlparse(self.url).path.split("/") if p]
        self._model = f"{path[-1] if path else urlparse(self.url).hostname}@endpoint"

    @property
    def model_id(self) -> str:
        return self._model.split("@", 1)[0]

    @property
    def version(self) -> str:
        return self._model.split("@", 1)[1]

    @property
    def source(self) -> str:
        return f"model:{self._model}"

    def _class_id(self, category: str) -> int:
        if category not in self.classes:
            self.classes.append(category)
        return self.classes.index(category)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        import cv2

        h, w = image.shape[:2]
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"image must be RGB uint8 (H, W, 3) with pixels; got shape {image.shape}")
        ext = ".png" if self.encoding == "png" else ".jpg"
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(image[:, :, ::-1]))
        if not ok:
            raise EndpointError(self.url, f"could not encode the {w}x{h} image as {self.encoding}")
        params = {"min_score": self.min_score} if self.min_score is not None else None
        response = self._client.request(
            "POST",
            f"{self.url}/invocations",
            content=buf.tobytes(),
            params=params,
            headers={"Content-Type": f"image/{self.encoding}"},
        )
        try:
            body = response.json()
            labels = [Label.model_validate(lab) for lab in body["labels"]]
            model, width, height = str(body["model"]), int(body["width"]), int(body["height"])
        except (ValueError, KeyError, TypeError) as e:
            raise EndpointError(self.url, f"answer is not the prelabel endpoint format: {e}") from e
        if (width, height) != (w, h):
            raise EndpointError(self.url, f"answer is for a {width}x{height} image; sent {w}x{h}")
        if "@" in model:
            self._model = model
        for name in body.get("classes") or []:
            self._class_id(str(name))
        boxed = [lab for lab in labels if lab.box is not None]
        if not boxed:
            return Detections.empty()
        masks = None
        if all(lab.mask is not None for lab in boxed):
            masks = np.stack([lab.mask.to_array() for lab in boxed if lab.mask is not None])
        return Detections(
            xyxy=np.array([lab.box.xyxy for lab in boxed if lab.box is not None], np.float32),
            scores=np.array([lab.score if lab.score is not None else 1.0 for lab in boxed], np.float32),
            class_ids=np.array([self._class_id(lab.category) for lab in boxed], np.int64),
            masks=masks,
        )
