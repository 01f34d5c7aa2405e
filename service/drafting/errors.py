"""Typed errors of drafting (mapped to problem+json once, by service.errors)."""

from __future__ import annotations

from ingest.errors import KBError


class DraftNotFound(KBError):
    """No draft with this id, or not one of the caller's."""

    code = "draft_not_found"
    http_status = 404


class DraftTemplateNotFound(KBError):
    code = "draft_template_not_found"
    http_status = 404


class DraftStateConflict(KBError):
    """The requested change does not fit the draft's state (e.g. editing the plan of a written draft)."""

    code = "draft_state_conflict"
    http_status = 409
