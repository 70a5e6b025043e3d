"""The format registry: names, aliases, and an unknown name that lists the known ones."""

from __future__ import annotations

import pytest

from prelabel import formats
from prelabel.errors import UnknownNameError


def test_registry_names_aliases_and_unknown() -> None:
    assert {"coco", "kitti", "scalabel", "labels"} <= set(formats.names())
    assert formats.get("bdd") is formats.get("scalabel")
    assert formats.get("COCO").name == "coco"
    with pytest.raises(UnknownNameError) as e:
        formats.get("pascal-xml")
    assert "coco" in str(e.value) and "kitti" in str(e.value)
