"""tmbus: Python binding of libtmbus, a member's connection to its own tmbus
node (post needs, offers and their updates, read the board, subscribe and
ack, ask for status).

    import tmbus
    with tmbus.Client.from_config("/tmp/fed/UA/client.conf") as c:
        need_id = c.post_need(title="EDR licences", category="malware-detection",
                              sector="health", quantity=300, priority="high", tlp="amber")

The package calls the C library through ctypes: it needs libtmbus.so.1
installed (found through the dynamic linker) or named by the environment
variable TMBUS_LIBRARY, and nothing else outside the standard library.
Failures raise tmbus.Error subclasses, one per TMBUS_E* code.
"""

from . import _lib
from .client import DEFAULT_TIMEOUT, Client, Subscription
from .errors import (
    Busy,
    Unavailable,
    Closed,
    Denied,
    Error,
    InternalError,
    InvalidArgument,
    NoMemory,
    NotFound,
    ProtocolError,
    Timeout,
    error_class,
)
from .types import (
    KINDS,
    Board,
    BoardNeed,
    BoardOffer,
    Category,
    Delivery,
    DeliveryEntry,
    Filter,
    Need,
    NeedAction,
    NeedChange,
    NeedDelivery,
    NeedStatus,
    NeedUpdateDelivery,
    Offer,
    OfferAction,
    OfferChange,
    OfferDelivery,
    OfferStatus,
    OfferUpdateDelivery,
    Page,
    Peer,
    Posted,
    Priority,
    Receipt,
    ReceiptDelivery,
    ReceiptState,
    Report,
    RosterEntry,
    ReportNeed,
    ReportTotal,
    Sector,
    Status,
    Tlp,
)

LibraryNotFound = _lib.LibraryNotFound

__version__ = "0.2.0"


def version() -> str:
    """The version of the libtmbus this process loaded ("0.2.0")."""
    return _lib.text(_lib.load().tmbus_version())


def library_path() -> str:
    """Where libtmbus was loaded from (TMBUS_LIBRARY, or the soname)."""
    return _lib.loaded_path()


def strerror(code: int) -> str:
    """The library's short description of a TMBUS_E* code."""
    return _lib.text(_lib.load().tmbus_strerror(code))


__all__ = [
    "Client", "Subscription", "DEFAULT_TIMEOUT", "version", "library_path", "strerror",
    "LibraryNotFound", "Error", "Timeout", "Denied", "InvalidArgument", "ProtocolError", "Closed",
    "NoMemory", "NotFound", "InternalError", "Busy", "Unavailable", "error_class", "KINDS", "Board",
    "BoardNeed", "BoardOffer", "Category", "Delivery", "DeliveryEntry", "Filter", "Need",
    "NeedAction", "NeedChange", "NeedDelivery", "NeedStatus", "NeedUpdateDelivery", "Offer",
    "OfferAction",
    "OfferChange", "OfferDelivery", "OfferStatus", "OfferUpdateDelivery", "Page", "Peer", "Posted",
    "Priority", "Receipt", "ReceiptDelivery", "ReceiptState", "Report", "ReportNeed",
    "ReportTotal", "RosterEntry", "Sector", "Status", "Tlp",
]
