"""Label refinement: tiled inference and test-time augmentation wrappers around any detector."""
