"""Bayesian design analysis of a candidate next study (`python -m analyses design`)."""
