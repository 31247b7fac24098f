"""Bundles: the versioned JSON document (document) inside an age envelope (age_envelope)."""
