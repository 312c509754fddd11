"""hwq.rtl (installed as hwq.rtl)."""
