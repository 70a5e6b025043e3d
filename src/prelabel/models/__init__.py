"""Models: the zoo manifest, the fetcher (download, verify, cache), backends and output decoders.

Nothing heavy is imported here; backends import their runtime (OpenCV DNN, ONNX Runtime) when a model loads.
"""

from prelabel.models.base import Detector
from prelabel.models.loader import load_detector
from prelabel.models.zoo import ModelEntry, get_entry, list_entries

__all__ = ["Detector", "ModelEntry", "get_entry", "list_entries", "load_detector"]
