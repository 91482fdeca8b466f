"""The discrete-event engine: SimPy clock domains that drive the chip, one event at a time."""
