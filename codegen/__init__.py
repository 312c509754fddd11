"""hwq.codegen (installed as hwq.codegen)."""
