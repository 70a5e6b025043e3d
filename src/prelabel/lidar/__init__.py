"""LiDAR geometry: ground, clusters, box fitting, lifting 2D detections to 3D, calibration checks."""
