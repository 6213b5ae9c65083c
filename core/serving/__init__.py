"""Serving: alias resolution, the model cache, input checks, one-record and batch scoring, feedback."""
