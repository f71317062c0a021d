"""Exceptions: one class per TMBUS_E* code of tmbus.h, all under tmbus.Error.

Every exception carries the library's code (a negative int), the code's
name and the one-line reason the node or the library gave. Where a
built-in exception means the same, the class derives from it too, so that
`except TimeoutError` or `except ValueError` also catch it.
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class Error(Exception):
    """A libtmbus call failed.

    Attributes:
        code: the TMBUS_E* value (negative), or None for a failure of this
            package itself.
        name: the code's name, e.g. "TMBUS_ETIMEOUT".
        reason: the node's or the library's one-line reason ("" if none).
    """

    code: Optional[int] = None
    name: str = "TMBUS_ERROR"

    def __init__(self, reason: str = "", code: Optional[int] = None):
        if code is not None:
            self.code = code
        self.reason = reason
        super().__init__(reason)

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}" if self.reason else self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, code={self.code})"


class Timeout(Error, TimeoutError):
    """TMBUS_ETIMEOUT: no answer in time; the request may still take effect."""

    code, name = -1, "TMBUS_ETIMEOUT"


class Denied(Error, PermissionError):
    """TMBUS_EDENIED: the node refused (key unknown, role or clearance)."""

    code, name = -2, "TMBUS_EDENIED"


class InvalidArgument(Error, ValueError):
    """TMBUS_EINVALID: a bad argument or request (the reason names what)."""

    code, name = -3, "TMBUS_EINVALID"


class ProtocolError(Error):
    """TMBUS_EPROTOCOL: an answer the library did not understand."""

    code, name = -4, "TMBUS_EPROTOCOL"


class Closed(Error, ConnectionError):
    """TMBUS_ECLOSED: the connection is gone (or the client was closed)."""

    code, name = -5, "TMBUS_ECLOSED"


class NoMemory(Error, MemoryError):
    """TMBUS_ENOMEM: the library ran out of memory."""

    code, name = -6, "TMBUS_ENOMEM"


class NotFound(Error, LookupError):
    """TMBUS_ENOTFOUND: unknown recipient, need, offer or envelope (or one
    above this client's clearance, which the node answers alike)."""

    code, name = -7, "TMBUS_ENOTFOUND"


class InternalError(Error):
    """TMBUS_EINTERNAL: the node failed (disk, memory); try again later."""

    code, name = -8, "TMBUS_EINTERNAL"


class Busy(Error):
    """TMBUS_EBUSY: the client's posts in flight are at their bound."""

    code, name = -9, "TMBUS_EBUSY"


class Unavailable(Error):
    """TMBUS_EUNAVAILABLE: the node is recovering its own logs from its peers
    after a rebuild; nothing was done; try again later."""

    code, name = -10, "TMBUS_EUNAVAILABLE"


_BY_CODE: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (Timeout, Denied, InvalidArgument, ProtocolError, Closed, NoMemory, NotFound,
                InternalError, Busy, Unavailable)
    if cls.code is not None
}


def error_class(code: int) -> Type[Error]:
    """The exception class for a TMBUS_E* code (Error for one this package
    does not know, from a newer library)."""
    return _BY_CODE.get(code, Error)


def from_code(code: int, reason: str = "") -> Error:
    """An exception for a TMBUS_E* code and its reason."""
    cls = error_class(code)
    err = cls(reason, code)
    if cls is Error:
        err.name = f"TMBUS_E({code})"
    return err
