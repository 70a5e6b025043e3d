"""Running models over frames: the predictor, the batch runner, persisted jobs and executors."""
