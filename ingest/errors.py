"""Typed errors with a stable `code`. HTTP maps them to RFC 9457 problem+json, the CLI to one line + exit 1."""

from __future__ import annotations


class KBError(Exception):
    """Base of every error the product reports to a user. `code` is stable and documented."""

    code: str = "kb_error"
    http_status: int = 500

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def headers(self) -> dict[str, str]:
        """HTTP headers the response must carry (e.g. WWW-Authenticate, Retry-After)."""
        return {}


class IngestError(KBError):
    """A file could not be ingested. The batch goes on with the next file."""

    code = "ingest_failed"
    http_status = 422


class UnsupportedFormat(IngestError):
    code = "unsupported_format"
    http_status = 415


class EmptyFile(IngestError):
    code = "empty_file"


class FileTooLarge(IngestError):
    code = "file_too_large"
    http_status = 413


class EncryptedDocument(IngestError):
    """Encrypted with a user password we do not have (an empty password is tried first)."""

    code = "encrypted"


class CorruptDocument(IngestError):
    """Truncated, damaged or not the format its extension claims."""

    code = "corrupt_file"


class NoTextLayer(IngestError):
    """A PDF whose pages yield no text, not even after OCR (or with OCR turned off or unavailable)."""

    code = "no_text_layer"


class SuspiciousArchive(IngestError):
    """A DOCX whose decompressed size is far beyond any real document (zip bomb)."""

    code = "zip_bomb"


class InvalidMetadata(IngestError):
    code = "invalid_metadata"


class ParseTimeout(IngestError):
    """Parsing did not finish within `ingest.parse_timeout_s`; the parse worker was stopped and is replaced."""

    code = "parse_timeout"


class ParseMemoryLimit(IngestError):
    """Parsing needed more memory than `ingest.parse_memory_mib` allows the parse worker."""

    code = "parse_memory_limit"


class ParseCrashed(IngestError):
    """The parse worker process died while parsing the file (a crash in a parser, or killed by the system)."""

    code = "parse_crashed"


class OriginalNotStored(IngestError):
    """The file was parsed, but its original could not be kept beside the store (disk full, permissions)."""

    code = "original_not_stored"
    http_status = 500


class OriginalNotKept(KBError):
    """A readable document whose original file is not kept: ingested before originals were kept (ingest the
    file again to keep it), or kept without them."""

    code = "original_not_kept"
    http_status = 404


class DocumentNotFound(KBError):
    code = "document_not_found"
    http_status = 404


class StoreLocked(KBError):
    """The embedded store directory is owned by another process (usually the running service)."""

    code = "store_locked"
    http_status = 503


class StoreError(KBError):
    code = "store_error"
    http_status = 500


class ConfigurationError(KBError):
    code = "configuration_error"
    http_status = 500


class ModelUnavailable(KBError):
    """A model file or package is missing, or its sha256 does not match."""

    code = "model_unavailable"
    http_status = 503


class Unauthenticated(KBError):
    """No credentials, or credentials that are unknown, revoked or expired."""

    code = "unauthenticated"
    http_status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(KBError):
    """Signed in, but the role does not allow this write."""

    code = "forbidden"
    http_status = 403


class WorkingGroupRequired(KBError):
    """An upload names no working group and the uploader may write into more than one (or none)."""

    code = "working_group_required"
    http_status = 400


class WorkingGroupConflict(KBError):
    """An upload names one working group in its query and another in its form."""

    code = "working_group_conflict"
    http_status = 409


class RateLimited(KBError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class AccountError(KBError):
    """An admin command on users or tokens could not be done (unknown user, duplicate name, bad role)."""

    code = "account_error"
    http_status = 400
