"""Training, data and evaluation for the alttext captioner (needs the `train` extra)."""
