"""Monitoring from the hourly roll-ups: windows, references, snapshots, drift, alerts, charts, simulated traffic."""
