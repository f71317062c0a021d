"""The domain as Python values: the enums of tmbus.h (same numbers, same
names) and the dataclasses a caller fills in (Need, Offer, Filter) or gets
back (board items, reports, deliveries, statuses, post outcomes).

These are plain copies: nothing here points into memory the C library owns,
so every value outlives the call that made it. Ids are 64 lower-case hex
digits; times are Unix seconds; money is EUR in integer cents.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client


class _Named(enum.IntEnum):
    """An enum whose members also have the wire name the library uses
    (str(Tlp.AMBER_STRICT) == "amber+strict"), and which parse() reads back
    case-insensitively, '-' and '_' alike."""

    @property
    def label(self) -> str:
        return self._labels()[self.value]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def _labels(cls) -> Dict[int, str]:
        raise NotImplementedError

    @classmethod
    def parse(cls, value: Union[str, int, "_Named"]):
        """The member for an int, a member or a name ("amber", "TLP:AMBER",
        "partially-covered"); raises InvalidArgument naming the allowed
        names."""
        from .errors import InvalidArgument

        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            if cls is Tlp and key.startswith("tlp:"):
                key = key[4:]
            for number, label in cls._labels().items():
                if label.replace("-", "_") == key:
                    return cls(number)
        names = ", ".join(cls._labels().values())
        raise InvalidArgument(f"{cls.__name__.lower()} {value!r} is not one of {names}")


class Tlp(_Named):
    """Traffic Light Protocol label (enum tmbus_tlp)."""

    CLEAR = 1
    GREEN = 2
    AMBER = 3
    AMBER_STRICT = 4
    RED = 5

    @classmethod
    def _labels(cls):
        return {1: "clear", 2: "green", 3: "amber", 4: "amber+strict", 5: "red"}


class Sector(_Named):
    """The beneficiary's sector (enum tmbus_sector)."""

    ENERGY = 1
    TELECOM = 2
    GOVERNMENT = 3
    FINANCE = 4
    HEALTH = 5
    TRANSPORT = 6
    WATER = 7
    OTHER = 8

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class Category(_Named):
    """What kind of help (enum tmbus_category)."""

    SOFTWARE_LICENCES = 1
    HARDWARE = 2
    MALWARE_DETECTION = 3
    THREAT_PREVENTION = 4
    INCIDENT_RESPONSE = 5
    TRAINING = 6
    CONNECTIVITY = 7
    ADVISORY = 8
    OTHER = 9

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower().replace("_", "-") for m in cls}


class Priority(_Named):
    """A need's priority (enum tmbus_priority)."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class NeedStatus(_Named):
    """A need's status on the board, derived by the node (enum tmbus_need_status)."""

    OPEN = 1
    PARTIALLY_COVERED = 2
    COVERED = 3
    CLOSED = 4
    WITHDRAWN = 5

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class OfferStatus(_Named):
    """An offer's status on the board (enum tmbus_offer_status)."""

    PROPOSED = 1
    ACCEPTED = 2
    DECLINED = 3
    DELIVERED = 4
    CONFIRMED = 5
    WITHDRAWN = 6

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class NeedAction(_Named):
    """What a need update does (enum tmbus_need_action); only the owner may."""

    EDIT = 1
    CLOSE = 2
    WITHDRAW = 3

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class OfferAction(_Named):
    """What an offer update does (enum tmbus_offer_action): accept, decline
    and confirm by the need's owner; deliver and withdraw by the donor."""

    ACCEPT = 1
    DECLINE = 2
    DELIVER = 3
    CONFIRM = 4
    WITHDRAW = 5

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


class ReceiptState(_Named):
    """What a recipient's node said of an envelope (enum tmbus_receipt_state)."""

    DELIVERED = 1
    REJECTED = 2

    @classmethod
    def _labels(cls):
        return {m.value: m.name.lower() for m in cls}


KINDS = ("need", "offer", "need_update", "offer_update", "receipt", "need_share")
"""The delivery kinds a Filter may name (Delivery.kind)."""

DateLike = Union[str, _dt.date, None]


def _date_text(value: DateLike) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def _optional_enum(cls, value):
    """0 / None read as unset; anything else is parsed."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
        return None
    return cls.parse(value)


@dataclass
class Need:
    """A request for help (struct tmbus_need).

    Required to post: title, category, sector, quantity, priority, tlp.
    Enum fields take a member, its number or its name ("hardware",
    "amber+strict"); deadline takes "YYYY-MM-DD" or a datetime.date. In a
    need the library returns, empty strings are "" and an unset deadline
    None.
    """

    title: str = ""
    category: Optional[Category] = None
    sector: Optional[Sector] = None
    quantity: int = 0
    priority: Optional[Priority] = None
    tlp: Optional[Tlp] = None
    unit: str = ""
    value_cents: int = 0
    beneficiary: str = ""
    description: str = ""
    deadline: Optional[str] = None
    contact: str = ""

    def __post_init__(self) -> None:
        self.category = _optional_enum(Category, self.category)
        self.sector = _optional_enum(Sector, self.sector)
        self.priority = _optional_enum(Priority, self.priority)
        self.tlp = _optional_enum(Tlp, self.tlp)
        self.deadline = _date_text(self.deadline) or None

    def validate(self) -> None:
        """Checks this need as the node will (and more strictly: UTF-8, no
        control characters), without a node. Raises InvalidArgument with the
        library's reason naming the field."""
        from . import _convert

        _convert.validate_need(self)


@dataclass
class Offer:
    """An answer to a need (need_id set) or a catalogue offer (need_id None)
    (struct tmbus_offer). Required to post: quantity, tlp."""

    quantity: int = 0
    tlp: Optional[Tlp] = None
    need_id: Optional[str] = None
    description: str = ""
    value_cents: int = 0
    delivery_date: Optional[str] = None
    conditions: str = ""

    def __post_init__(self) -> None:
        self.tlp = _optional_enum(Tlp, self.tlp)
        self.delivery_date = _date_text(self.delivery_date) or None

    def validate(self) -> None:
        """Checks this offer as the node will; raises InvalidArgument."""
        from . import _convert

        _convert.validate_offer(self)


@dataclass
class Filter:
    """Which deliveries a subscription wants (struct tmbus_filter). An empty
    list means any; a delivery must match every list that is not empty.
    kinds: see KINDS; categories: an offer takes its need's category;
    senders: member ids. At most 64 entries in each list."""

    kinds: Sequence[str] = ()
    categories: Sequence[Union[Category, str, int]] = ()
    tlps: Sequence[Union[Tlp, str, int]] = ()
    senders: Sequence[str] = ()


@dataclass(frozen=True)
class BoardNeed:
    """A need on the board as this client may read it."""

    id: str
    owner: str
    created_at: int
    need: Need
    status: NeedStatus
    accepted_quantity: int
    delivered_quantity: int
    updated_at: int
    #: The owner is no longer a member in the roster in force (revoked
    #: after it posted this).
    is_author_revoked: bool = False


@dataclass(frozen=True)
class BoardOffer:
    """An offer on the board (offer.need_id is None for a catalogue offer)."""

    id: str
    donor: str
    created_at: int
    offer: Offer
    status: OfferStatus
    updated_at: int
    #: The donor is no longer a member in the roster in force.
    is_author_revoked: bool = False


@dataclass(frozen=True)
class Page:
    """One page of a board query: needs or offers (the other list is empty),
    and the cursor of the next page (None after the last)."""

    needs: Tuple[BoardNeed, ...]
    offers: Tuple[BoardOffer, ...]
    next: Optional[str]

    @property
    def items(self) -> Tuple[Union[BoardNeed, BoardOffer], ...]:
        """The page's needs or offers, whichever it holds."""
        return self.needs or self.offers


@dataclass(frozen=True)
class Board:
    """The whole board this client may read (Client.snapshot)."""

    needs: Tuple[BoardNeed, ...]
    offers: Tuple[BoardOffer, ...]


@dataclass(frozen=True)
class ReportNeed:
    """An open or partially covered need in a report."""

    id: Optional[str]
    owner: str
    title: str
    status: NeedStatus
    priority: Optional[Priority]
    deadline: Optional[str]
    is_overdue: bool
    quantity: int
    accepted_quantity: int
    value_cents: int
    #: The owner is no longer a member in the roster in force.
    is_author_revoked: bool = False


@dataclass(frozen=True)
class ReportTotal:
    """Pledged (accepted, delivered or confirmed offers) and delivered
    (confirmed) EUR cents for one donor, category, sector, or "total"."""

    key: str
    pledged_cents: int
    delivered_cents: int


@dataclass(frozen=True)
class Report:
    """The board's reports as the node computes them for this client."""

    needs: Tuple[ReportNeed, ...]
    need_total: int
    by_donor: Tuple[ReportTotal, ...]
    by_category: Tuple[ReportTotal, ...]
    by_sector: Tuple[ReportTotal, ...]
    overall: ReportTotal


@dataclass(frozen=True)
class DeliveryEntry:
    """Where one of our posts stands with one recipient."""

    member: str
    state: str  # "pending", "delivered" or "rejected"
    reason: str
    at: int


@dataclass(frozen=True)
class RosterEntry:
    """One roster a node has trusted: an entry of the governance log."""

    version: int
    hash: str  # BLAKE2b-256 of its Roster bytes, hex: the next version's previous hash
    trusted_at: int  # unix seconds when that node took it (its clock)
    size: int  # bytes of the signed roster


@dataclass(frozen=True)
class Peer:
    """One peer link as the node sees it."""

    member: str
    state: str  # "down", "connecting", "up"
    silent_ms: int  # -1: never heard
    lag: int
    behind: int


@dataclass(frozen=True)
class Status:
    """A node's status."""

    member: str
    roster_version: int
    version: str
    uptime_s: int
    store_full: bool
    recovering: bool  # refusing posts while it takes its own logs back from its peers
    audit_epoch: int  # its audit log's epoch: how many times it was started again after a loss
    retention_pruned: int  # envelopes whose ciphertext retention dropped
    retention_bytes_freed: int  # and the bytes that freed
    envelopes: int
    inbox: int
    board_digest: Optional[str]
    counters: Dict[str, int]
    peers: Tuple[Peer, ...]
    # After a rotation of the member's keys: the generation its node replaced
    # (0: none) and how far it signed, (log_peer, last_seq) per log, "" for the
    # relayed log: the signed_up_to of the roster that retires it.
    key_switch_id: int = 0
    key_switch_heads: Tuple[Tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Posted:
    """The outcome of one pipelined post (Client.send_need, Client.send).

    code is 0 when the node committed the post, else the TMBUS_E* code
    (TMBUS_ECLOSED / TMBUS_ETIMEOUT: unknown whether it was committed).
    ids: the envelopes it became (one; one per recipient for TLP:RED).
    item: what was posted, when Client.post_needs sent it."""

    ticket: int
    code: int
    reason: str
    ids: Tuple[str, ...]
    item: object = None

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def id(self) -> Optional[str]:
        """The first envelope's id (the need's or offer's id), or None."""
        return self.ids[0] if self.ids else None

    def raise_for_error(self) -> None:
        """Raises the exception for code, if the post failed."""
        from .errors import from_code

        if self.code != 0:
            raise from_code(self.code, self.reason)


@dataclass(frozen=True)
class NeedChange:
    """A need update: edit (fields set in edit change), close or withdraw."""

    need_id: Optional[str]
    action: Optional[NeedAction]
    edit: Optional[Need]
    reason: str


@dataclass(frozen=True)
class OfferChange:
    """An offer update: accept, decline, deliver, confirm or withdraw."""

    offer_id: Optional[str]
    action: Optional[OfferAction]
    reason: str


@dataclass(frozen=True)
class Receipt:
    """A recipient's node's word about one of our envelopes."""

    envelope_id: Optional[str]
    state: Optional[ReceiptState]
    reason: str


@dataclass
class Delivery:
    """One received message. The subclasses say what it carries
    (NeedDelivery, OfferDelivery, NeedUpdateDelivery, OfferUpdateDelivery,
    ReceiptDelivery); a payload this library cannot read comes as a plain
    Delivery with kind None.

    number is the local delivery number to ack (ack() does); payload is the
    serialized Payload, a bytearray that wipe() (or leaving a `with`
    block) overwrites with zeros. The C library wiped its own copy when the
    delivery was read; strings decoded into Python objects cannot be wiped.
    """

    number: int
    id: str
    sender: str
    log_peer: str
    seq: int
    created_at: int
    expires_at: int
    recipients: Tuple[str, ...]
    kind: Optional[str]
    payload: bytearray = field(repr=False)
    _client: Optional["Client"] = field(default=None, repr=False, compare=False)

    def ack(self, timeout: Optional[float] = None) -> None:
        """Acks this delivery and every earlier one; returns once the node's
        cursor is durable. Acked deliveries never come again."""
        if self._client is None:
            from .errors import Closed

            raise Closed("this delivery has no client to ack through")
        self._client.ack(self.number, timeout=timeout)

    def wipe(self) -> None:
        """Overwrites the payload bytes with zeros."""
        self.payload[:] = bytes(len(self.payload))

    def __enter__(self) -> "Delivery":
        return self

    def __exit__(self, *exc) -> None:
        self.wipe()


@dataclass
class NeedDelivery(Delivery):
    """A delivery of kind "need"."""

    need: Optional[Need] = None


@dataclass
class OfferDelivery(Delivery):
    """A delivery of kind "offer"."""

    offer: Optional[Offer] = None


@dataclass
class NeedUpdateDelivery(Delivery):
    """A delivery of kind "need_update"."""

    change: Optional[NeedChange] = None


@dataclass
class OfferUpdateDelivery(Delivery):
    """A delivery of kind "offer_update"."""

    change: Optional[OfferChange] = None


@dataclass
class ReceiptDelivery(Delivery):
    """A delivery of kind "receipt": one entry per envelope of ours."""

    receipts: Tuple[Receipt, ...] = ()


__all__ = [
    "Tlp", "Sector", "Category", "Priority", "NeedStatus", "OfferStatus", "NeedAction",
    "OfferAction", "ReceiptState", "KINDS", "Need", "Offer", "Filter", "BoardNeed", "BoardOffer",
    "Page", "Board", "ReportNeed", "ReportTotal", "Report", "DeliveryEntry", "Peer", "Status",
    "Posted", "NeedChange", "OfferChange", "Receipt", "Delivery", "NeedDelivery", "OfferDelivery",
    "NeedUpdateDelivery", "OfferUpdateDelivery", "ReceiptDelivery",
]
