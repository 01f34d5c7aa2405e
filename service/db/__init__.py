"""The service database (users, memberships, API tokens, audit log, rate-limit windows).

`Database` is built once in the composition root (`service.app`) or by an admin command and passed down;
no module opens its own connection. Qdrant stays the only home of chunks.
"""

from service.db.engine import Database, open_database

__all__ = ["Database", "open_database"]
