"""Pictures of what the model saw: overlays, plots, reports."""
