"""Experiments: MLflow run search, comparison, leaderboards and registering a run's model."""
