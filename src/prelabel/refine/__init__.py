"""Label refinement: tiled inference and flip TTA around any detector, fusion of several models' labels, composing
parts into one object; across frames: tracking, track-level refinement, keyframe interpolation."""
