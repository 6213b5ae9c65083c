"""Training the demo model and first-run bootstrap."""
