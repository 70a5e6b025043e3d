"""Quality: evaluation against ground truth (COCO-style AP), calibration and routing, frame selection."""
