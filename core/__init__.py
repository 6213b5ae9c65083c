"""Loupe's domain layer: settings, data, training, registry, serving, drift and monitoring."""
