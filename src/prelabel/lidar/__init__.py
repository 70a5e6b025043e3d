"""3D boxes from LiDAR geometry guided by 2D detections: ground, clusters, oriented-box fits, lifting.

Modules: ``ground`` (RANSAC ground plane and heights above it), ``cluster`` (Euclidean clusters on a
bird's-eye-view grid), ``fit`` (L-shape box fitting, size priors, extension away from the sensor), ``lift``
(2D detections in every camera to 3D boxes in the LiDAR frame). Units: metres, radians; frames: docs/schema.md.
"""
