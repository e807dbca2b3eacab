"""Forms of evidence, one module each; this registry maps an item's ``kind`` to its module.

Each module provides the parts listed in :mod:`models.forms.base` (its essential-field rule,
likelihood, closed-form estimate and simulator). Adding a form is a module here, listed in
``_MODULES``, plus its class in :mod:`models.evidence.schema` (added to ``EvidenceItem``).
"""

from __future__ import annotations

from models.forms import arm_means, contrast_statistic, counts, ipd, paired_binary
from models.forms.base import Form

_MODULES: tuple[Form, ...] = (paired_binary, contrast_statistic, counts, arm_means, ipd)
FORMS: dict[str, Form] = {kind: module for module in _MODULES for kind in module.KINDS}


def form_of(kind: str) -> Form:
    """The module of the form of evidence ``kind``.

    Raises
    ------
    KeyError
        If no module handles that kind.
    """
    try:
        return FORMS[kind]
    except KeyError:
        known = sorted(FORMS)
        raise KeyError(f"no form module for evidence kind {kind!r}; known: {known}") from None


__all__ = ["FORMS", "Form", "form_of"]
