"""The evidence base: study files in data/, their schema, checks, loader and tables."""

from models.evidence.load import Evidence, check_paths, load_evidence
from models.evidence.problems import InputError, Problem

__all__ = ["Evidence", "InputError", "Problem", "check_paths", "load_evidence"]
