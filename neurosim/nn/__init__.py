"""Networks as crossbar-mapped layers: structure (shapes), the forward/backward math, and losses."""
