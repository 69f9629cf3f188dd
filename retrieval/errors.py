"""Errors the engine raises; the bot turns each into one friendly line.

    QAError
    ├── ConfigError          a setting is missing or invalid
    ├── DocumentsError       the documents folder is missing or unreadable
    ├── StoreError           the database cannot be opened, read or written
    ├── IndexFileError       a cached index does not match what loads it
    │   └── IndexDamagedError    …because its bytes do not match their checksums
    ├── QuestionError        a question is empty or too long
    ├── UnknownDocumentError a document id that is not in the index
    ├── BusyError            a reindex is already running
    └── NoCollectionError    a server has no collection of its own
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error meant to be shown to a user as one line."""


class ConfigError(QAError):
    """A setting is missing or invalid."""


class DocumentsError(QAError):
    """The documents folder is missing or unreadable."""


class StoreError(QAError):
    """The database cannot be opened, read or written."""


class IndexFileError(QAError):
    """A cached index on disk does not match the parameters or versions loading it."""


class IndexDamagedError(IndexFileError):
    """A cached index whose contents do not match the checksums it was saved with."""


class QuestionError(QAError):
    """A question that cannot be answered as asked (empty, too long)."""


class UnknownDocumentError(QAError):
    """A document id that is not in the index."""

    def __init__(self, name: str, closest: tuple[str, ...] = ()) -> None:
        hint = f" Did you mean: {', '.join(closest)}?" if closest else ""
        super().__init__(f"No indexed document is called {name!r}.{hint}")
        self.name = name
        self.closest = closest


class BusyError(QAError):
    """A reindex is already running."""


class NoCollectionError(QAError):
    """A server asked for its own collection, which it does not have (it uses the default one)."""
