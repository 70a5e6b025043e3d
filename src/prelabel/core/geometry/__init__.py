"""The one geometry module: every box conversion, overlap, suppression, clustering and frame transform lives here.

Submodules (import from them directly):
- ``boxes2d``: 2D axis-aligned boxes in absolute pixels ``xyxy`` (conversions, overlap iou/ioa/crowd, NMS, greedy
  clustering).
- ``boxes3d``: oriented 3D boxes (centre x y z m, size length width height m, yaw rad about the frame's up axis):
  corners, rotated BEV and 3D overlaps, points inside a box.
- ``transforms``: rigid transforms (4x4, quaternions w x y z), projection of points into cameras.

Conventions are written once in docs/schema.md.
"""
