"""The simulated coast: a deterministic discrete-event kernel and the night's processes."""
