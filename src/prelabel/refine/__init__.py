"""Refinement of labels across frames: tracking, track-level refinement, keyframe interpolation."""
