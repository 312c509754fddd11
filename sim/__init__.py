"""hwq.sim (installed as hwq.sim)."""
