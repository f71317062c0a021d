"""tmbus.Client: one connection to the member's own node, over libtmbus.

Each method is one libtmbus call (or a loop of them): it converts its
arguments, calls the library with the client's lock held (a libtmbus handle
is not thread-safe; the lock makes a Client safe to share, one call at a
time), copies what the library returned into tmbus.types values, frees the
library's object (which wipes it) and raises tmbus.Error subclasses for
TMBUS_E* codes. It never prints, and never exits the process.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Union

from . import _convert, _lib
from .errors import Closed, InvalidArgument, from_code
from .types import (
    Board,
    BoardNeed,
    BoardOffer,
    Category,
    Delivery,
    DeliveryEntry,
    Filter,
    Need,
    NeedAction,
    NeedDelivery,
    NeedStatus,
    NeedUpdateDelivery,
    Offer,
    OfferAction,
    OfferDelivery,
    OfferStatus,
    OfferUpdateDelivery,
    Page,
    Peer,
    RosterEntry,
    Posted,
    Priority,
    ReceiptDelivery,
    Report,
    ReportNeed,
    ReportTotal,
    Status,
)

IdLike = _convert.IdLike
Recipients = Optional[Union[str, Iterable[str]]]

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may block when neither it nor the Client says otherwise."""

POST_WINDOW_MAX = 1024
WINDOW_MAX = 1024
BOARD_PAGE_MAX = 1000
_POST_NOWAIT = 1
_LIST_NEEDS, _LIST_OFFERS = 1, 2
_REPORT_BY_DONOR, _REPORT_BY_CATEGORY, _REPORT_BY_SECTOR = 1, 2, 3

_NEED_FIELDS = frozenset(Need.__dataclass_fields__)
_SLICE = 0.5  # seconds a subscription's iterator waits with the lock held


def _ms(seconds: Optional[float], default: float) -> int:
    """A libtmbus timeout_ms: None is the default, a negative value waits for
    ever (-1), else whole milliseconds (at least 1 for any positive wait)."""
    if seconds is None:
        seconds = default
    if seconds < 0:
        return -1
    ms = int(seconds * 1000)
    return 1 if ms == 0 and seconds > 0 else ms


def _need_of(need: Optional[Need], fields: dict) -> Need:
    if need is not None and fields:
        raise InvalidArgument("give a Need or its fields as keywords, not both")
    if need is not None:
        return need
    unknown = set(fields) - _NEED_FIELDS
    if unknown:
        raise InvalidArgument(f"no such need field: {', '.join(sorted(unknown))}")
    return Need(**fields)


class Client:
    """A connection to a tmbus node, as one of the node's configured clients
    (its key gives the role and TLP clearance).

    Make one with Client.from_config(path) (the client configuration the
    tmbus CLI reads), Client.connect_files(...) or Client.connect(...);
    close it with close() or a `with` block, which closes the connection
    and wipes what the library held. Every blocking call takes timeout in
    seconds (None: the client's default; a negative value: no bound).
    """

    def __init__(self, handle: int, timeout: float = DEFAULT_TIMEOUT):
        """Wraps a libtmbus handle (use the class methods to make one)."""
        self._lib = _lib.load()
        self._handle: Optional[ctypes.c_void_p] = ctypes.c_void_p(handle)
        self._lock = threading.RLock()
        self.timeout = timeout

    # ---- connecting -----------------------------------------------------

    @classmethod
    def _open(cls, fn, args: list, timeout: float, connect_timeout: Optional[float]) -> "Client":
        lib = _lib.load()
        out = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_lib.ERROR_MAX)
        ms = _ms(connect_timeout, timeout)
        if ms < 0:
            raise InvalidArgument("connecting needs a bounded timeout")
        rc = getattr(lib, fn)(*args, ms, ctypes.byref(out), err, len(err))
        if rc != 0:
            raise from_code(rc, _lib.text(err.value))
        return cls(out.value, timeout)

    @classmethod
    def from_config(
        cls, path: Union[str, "os.PathLike[str]"], *, timeout: float = DEFAULT_TIMEOUT, connect_timeout: Optional[float] = None
    ) -> "Client":
        """Connects as the client configuration file at path says (INI:
        [client] endpoint, node_key, key; relative paths from the file's
        directory). Waits for one status round trip: Denied when the node
        refused the key, Timeout when nothing answered. timeout becomes the
        client's default for later calls."""
        return cls._open("tmbus_connect_config", [os.fsencode(path)], timeout, connect_timeout)

    @classmethod
    def connect_files(
        cls,
        endpoint: str,
        node_public_file: str,
        client_secret_file: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: Optional[float] = None,
    ) -> "Client":
        """Connects to endpoint ("tcp://127.0.0.1:7102") with tmbus key files:
        the node's member-public file and this client's client-secret file
        (refused when group or others can read it)."""
        args = [endpoint.encode(), os.fsencode(node_public_file), os.fsencode(client_secret_file)]
        return cls._open("tmbus_connect_files", args, timeout, connect_timeout)

    @classmethod
    def connect(
        cls,
        endpoint: str,
        node_public_key: bytes,
        client_public_key: bytes,
        client_secret_key: Union[bytes, bytearray],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: Optional[float] = None,
    ) -> "Client":
        """Connects with raw 32-byte CURVE keys. A bytearray secret is
        overwritten with zeros once the library took it."""
        for key, what in ((node_public_key, "node_public_key"),
                          (client_public_key, "client_public_key"),
                          (client_secret_key, "client_secret_key")):
            if len(key) != _lib.KEY_BYTES:
                raise InvalidArgument(f"{what} must be {_lib.KEY_BYTES} bytes")
        secret = ctypes.create_string_buffer(bytes(client_secret_key), _lib.KEY_BYTES)
        try:
            return cls._open(
                "tmbus_connect",
                [endpoint.encode(), bytes(node_public_key), bytes(client_public_key), secret],
                timeout, connect_timeout)
        finally:
            ctypes.memset(secret, 0, _lib.KEY_BYTES)
            if isinstance(client_secret_key, bytearray):
                client_secret_key[:] = bytes(len(client_secret_key))

    def close(self) -> None:
        """Closes the connection (queued deliveries are dropped; unacked ones
        come again on the next subscription) and wipes what the library held.
        Closing twice is harmless."""
        with self._lock:
            if self._handle is not None and self._handle.value:
                self._lib.tmbus_close(ctypes.byref(self._handle))
            self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass

    # ---- plumbing -------------------------------------------------------

    def _h(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise Closed("the client is closed")
        return self._handle

    def _ms(self, timeout: Optional[float]) -> int:
        return _ms(timeout, self.timeout)

    def _check(self, rc: int) -> None:
        if rc != 0:
            raise from_code(rc, self.last_error())

    def last_error(self) -> str:
        """The reason for the last failure on this client ("" if none)."""
        if self._handle is None:
            return ""
        return _lib.text(self._lib.tmbus_last_error(self._handle))

    def fileno(self) -> int:
        """A file descriptor for select/poll/selectors: readable when a
        delivery or a post's outcome may wait. Edge-triggered in effect: after
        it fires, call next_delivery(0) / posted(0) until they return None."""
        with self._lock:
            fd = self._lib.tmbus_fd(self._h())
            if fd < 0:
                self._check(fd)
            return fd

    # ---- posting --------------------------------------------------------

    def _id_call(self, fn, *args) -> str:
        out = ctypes.create_string_buffer(_lib.ID_BYTES)
        with self._lock:
            self._check(fn(self._h(), *args, out))
        return out.raw[: _lib.ID_BYTES].hex()

    def post(
        self,
        payload: bytes,
        *,
        to: Recipients = None,
        expires_at: int = 0,
        timeout: Optional[float] = None,
    ) -> str:
        """Posts a serialized Payload (1..504 KiB) to the members in to (None:
        every roster member); returns its envelope id once the node committed
        it. expires_at: Unix seconds after which recipients stop delivering
        it, 0 for never. After Timeout it may or may not have been committed."""
        arr, n, everyone = _convert.recipients(to)
        return self._id_call(self._lib.tmbus_post, bytes(payload), len(payload), arr, n,
                             everyone, expires_at, self._ms(timeout))

    def post_need(
        self,
        need: Optional[Need] = None,
        *,
        to: Recipients = None,
        timeout: Optional[float] = None,
        **fields: Any,
    ) -> str:
        """Posts a need (a Need, or its fields as keywords: title=...,
        category="hardware", ...) to the members in to (None: every member).
        Validates first (InvalidArgument naming the field, nothing sent);
        returns the need's id once the node committed it."""
        c = _convert.need_struct(_need_of(need, fields))
        arr, n, everyone = _convert.recipients(to)
        return self._id_call(self._lib.tmbus_post_need, ctypes.byref(c), arr, n, everyone,
                             self._ms(timeout))

    def post_offer(
        self,
        offer: Optional[Offer] = None,
        *,
        to: Recipients = None,
        timeout: Optional[float] = None,
        **fields: Any,
    ) -> str:
        """Posts an offer (an Offer, or its fields as keywords; need_id names
        the need it answers). Its recipients should include the need's owner.
        Returns the offer's id once the node committed it."""
        if offer is not None and fields:
            raise InvalidArgument("give an Offer or its fields as keywords, not both")
        c = _convert.offer_struct(offer if offer is not None else Offer(**fields))
        arr, n, everyone = _convert.recipients(to)
        return self._id_call(self._lib.tmbus_post_offer, ctypes.byref(c), arr, n, everyone,
                             self._ms(timeout))

    def update_need(
        self,
        need_id: IdLike,
        action: Union[NeedAction, str],
        *,
        edit: Optional[Need] = None,
        reason: Optional[str] = None,
        to: Recipients = None,
        timeout: Optional[float] = None,
    ) -> str:
        """Posts an update of one of this member's needs: EDIT (edit holds the
        fields to change, the others unset), CLOSE or WITHDRAW. Returns the
        update's envelope id."""
        act = NeedAction.parse(action)
        if (act == NeedAction.EDIT) != (edit is not None):
            raise InvalidArgument("an edit needs edit=Need(...); close and withdraw take none")
        c = ctypes.byref(_convert.need_struct(edit)) if edit is not None else None
        arr, n, everyone = _convert.recipients(to)
        return self._id_call(self._lib.tmbus_need_update, _convert.id_bytes(need_id, "need_id"),
                             int(act), c, reason.encode() if reason else None, arr, n, everyone,
                             self._ms(timeout))

    def edit_need(self, need_id: IdLike, *, reason: Optional[str] = None, to: Recipients = None,
                  timeout: Optional[float] = None, **fields: Any) -> str:
        """Edits a need: the keyword fields given change (e.g. quantity=8)."""
        if not fields:
            raise InvalidArgument("an edit changes at least one field")
        return self.update_need(need_id, NeedAction.EDIT, edit=_need_of(None, fields),
                                reason=reason, to=to, timeout=timeout)

    def close_need(self, need_id: IdLike, *, reason: Optional[str] = None,
                   to: Recipients = None, timeout: Optional[float] = None) -> str:
        """Closes a need (it was met, or is no longer wanted)."""
        return self.update_need(need_id, NeedAction.CLOSE, reason=reason, to=to, timeout=timeout)

    def withdraw_need(self, need_id: IdLike, *, reason: Optional[str] = None,
                      to: Recipients = None, timeout: Optional[float] = None) -> str:
        """Withdraws a need."""
        return self.update_need(need_id, NeedAction.WITHDRAW, reason=reason, to=to,
                                timeout=timeout)

    def update_offer(
        self,
        offer_id: IdLike,
        action: Union[OfferAction, str],
        *,
        reason: Optional[str] = None,
        to: Recipients = None,
        timeout: Optional[float] = None,
    ) -> str:
        """Posts an offer update: ACCEPT, DECLINE, CONFIRM (the need's owner)
        or DELIVER, WITHDRAW (the donor). Returns the update's envelope id."""
        act = OfferAction.parse(action)
        arr, n, everyone = _convert.recipients(to)
        return self._id_call(self._lib.tmbus_offer_update,
                             _convert.id_bytes(offer_id, "offer_id"), int(act),
                             reason.encode() if reason else None, arr, n, everyone,
                             self._ms(timeout))

    def accept_offer(self, offer_id: IdLike, **kw: Any) -> str:
        """Accepts an offer to one of this member's needs."""
        return self.update_offer(offer_id, OfferAction.ACCEPT, **kw)

    def decline_offer(self, offer_id: IdLike, **kw: Any) -> str:
        """Declines an offer to one of this member's needs."""
        return self.update_offer(offer_id, OfferAction.DECLINE, **kw)

    def deliver_offer(self, offer_id: IdLike, **kw: Any) -> str:
        """Marks one of this member's accepted offers delivered."""
        return self.update_offer(offer_id, OfferAction.DELIVER, **kw)

    def confirm_offer(self, offer_id: IdLike, **kw: Any) -> str:
        """Confirms that an offer to one of this member's needs was delivered."""
        return self.update_offer(offer_id, OfferAction.CONFIRM, **kw)

    def withdraw_offer(self, offer_id: IdLike, **kw: Any) -> str:
        """Withdraws one of this member's offers."""
        return self.update_offer(offer_id, OfferAction.WITHDRAW, **kw)

    # ---- pipelined posting ---------------------------------------------

    @property
    def post_window(self) -> int:
        """How many posts may be in flight at once (1..1024; 64 until set).
        The library has no getter: this is the last value set here."""
        return getattr(self, "_post_window", 64)

    @post_window.setter
    def post_window(self, window: int) -> None:
        with self._lock:
            self._check(self._lib.tmbus_post_window(self._h(), window))
        self._post_window = window

    @property
    def posts_in_flight(self) -> int:
        """Posts sent with send()/send_need() whose outcome has not come."""
        with self._lock:
            return self._lib.tmbus_posts_in_flight(self._h())

    def send(self, payload: bytes, *, to: Recipients = None, expires_at: int = 0,
             wait: bool = True, timeout: Optional[float] = None) -> int:
        """Sends a post without waiting for its commit and returns its ticket;
        its outcome comes from posted(). When the window is full it waits up
        to timeout for a place (wait=False: raises Busy at once)."""
        arr, n, everyone = _convert.recipients(to)
        ticket = ctypes.c_uint64()
        with self._lock:
            self._check(self._lib.tmbus_post_send(
                self._h(), bytes(payload), len(payload), arr, n, everyone, expires_at,
                0 if wait else _POST_NOWAIT, self._send_ms(timeout), ctypes.byref(ticket)))
        return ticket.value

    def send_need(self, need: Optional[Need] = None, *, to: Recipients = None, wait: bool = True,
                  timeout: Optional[float] = None, **fields: Any) -> int:
        """As post_need, pipelined: validates and sends the need (nothing sent
        on InvalidArgument) and returns its ticket; the outcome, with the
        need's id, comes from posted()."""
        c = _convert.need_struct(_need_of(need, fields))
        arr, n, everyone = _convert.recipients(to)
        ticket = ctypes.c_uint64()
        with self._lock:
            self._check(self._lib.tmbus_post_need_send(
                self._h(), ctypes.byref(c), arr, n, everyone, 0 if wait else _POST_NOWAIT,
                self._send_ms(timeout), ctypes.byref(ticket)))
        return ticket.value

    def _send_ms(self, timeout: Optional[float]) -> int:
        ms = self._ms(timeout)
        if ms == 0:
            raise InvalidArgument("a pipelined post needs a timeout above 0")
        return ms

    def posted(self, timeout: Optional[float] = 0) -> Optional[Posted]:
        """The next outcome of a pipelined post, waiting up to timeout (0:
        never blocks). None when none completed in time, or none is in
        flight. A failed post is an outcome (Posted.ok False), not an
        exception."""
        out = ctypes.c_void_p()
        with self._lock:
            rc = self._lib.tmbus_posted_next(self._h(), self._ms(timeout), ctypes.byref(out))
            if rc in (-1, -7):  # TMBUS_ETIMEOUT, TMBUS_ENOTFOUND
                return None
            self._check(rc)
            try:
                lib, p = self._lib, out
                ids = tuple(
                    _lib.id_at(lib.tmbus_posted_id(p, i)).hex()
                    for i in range(lib.tmbus_posted_count(p))
                )
                return Posted(ticket=lib.tmbus_posted_ticket(p), code=lib.tmbus_posted_result(p),
                              reason=_lib.text(lib.tmbus_posted_reason(p)), ids=ids)
            finally:
                self._lib.tmbus_posted_free(ctypes.byref(out))

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until no pipelined post is in flight (their outcomes stay for
        posted()); raises Timeout with posts still in flight."""
        with self._lock:
            self._check(self._lib.tmbus_post_flush(self._h(), self._ms(timeout)))

    def post_needs(
        self,
        needs: Iterable[Union[Need, dict]],
        *,
        to: Recipients = None,
        window: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Iterator[Posted]:
        """Posts many needs pipelined (window in flight; 64 by default) and
        yields each one's outcome as it comes (Posted.item is the Need sent;
        outcomes may come out of order). A need that fails validation comes
        as an outcome with code TMBUS_EINVALID, not an exception. Returns
        once every need sent has its outcome."""
        if window is not None:
            self.post_window = window
        sent = {}
        for item in needs:
            need = item if isinstance(item, Need) else None
            try:
                if need is None:
                    need = _need_of(None, dict(item))  # type: ignore[arg-type]
                ticket = self.send_need(need, to=to, timeout=timeout)
            except InvalidArgument as e:
                yield Posted(ticket=0, code=e.code or -3, reason=e.reason, ids=(), item=item)
                continue
            sent[ticket] = need
            # Hand out what already completed, without waiting.
            while True:
                p = self.posted(0)
                if p is None:
                    break
                yield _with_item(p, sent.pop(p.ticket, None))
        while sent:
            p = self.posted(timeout)
            if p is None:
                if self.posts_in_flight == 0:
                    break
                continue
            yield _with_item(p, sent.pop(p.ticket, None))

    # ---- subscriptions --------------------------------------------------

    def subscribe(
        self,
        filter: Optional[Filter] = None,
        *,
        window: int = 0,
        idle_timeout: Optional[float] = None,
        timeout: Optional[float] = None,
    ) -> "Subscription":
        """Starts receiving deliveries after this client's durable cursor,
        with at most window unacked (1..1024; 0 means 64), and returns an
        iterator of typed deliveries. filter: which kinds, categories, TLPs
        and senders (None: everything). Iteration blocks for the next
        delivery; with idle_timeout it stops after that many seconds with
        none. A new subscription replaces the previous one."""
        with self._lock:
            if filter is None:
                self._check(self._lib.tmbus_subscribe(self._h(), window, self._ms(timeout)))
            else:
                c, keep = _convert.filter_struct(filter)
                self._check(self._lib.tmbus_subscribe_filtered(
                    self._h(), window, ctypes.byref(c), self._ms(timeout)))
                del keep
        return Subscription(self, idle_timeout)

    def next_delivery(self, timeout: Optional[float] = None) -> Optional[Delivery]:
        """The next delivery, waiting up to timeout; None when none came."""
        out = ctypes.c_void_p()
        with self._lock:
            rc = self._lib.tmbus_next(self._h(), self._ms(timeout), ctypes.byref(out))
            if rc == -1:  # TMBUS_ETIMEOUT
                return None
            self._check(rc)
            try:
                return self._delivery_from(out)
            finally:
                self._lib.tmbus_delivery_free(ctypes.byref(out))

    def ack(self, number: int, *, timeout: Optional[float] = None) -> None:
        """Acks every delivery up to and including number; returns once the
        node's cursor is durable."""
        with self._lock:
            self._check(self._lib.tmbus_ack(self._h(), number, self._ms(timeout)))

    def _delivery_from(self, d: ctypes.c_void_p) -> Delivery:
        lib = self._lib
        n = ctypes.c_size_t()
        ptr = lib.tmbus_delivery_payload(d, ctypes.byref(n))
        payload = bytearray(ctypes.string_at(ptr, n.value)) if ptr else bytearray()
        kind = _lib.text(lib.tmbus_delivery_kind(d)) or None
        common = dict(
            number=lib.tmbus_delivery_number(d),
            id=_lib.id_at(lib.tmbus_delivery_id(d)).hex(),
            sender=_lib.text(lib.tmbus_delivery_sender(d)),
            log_peer=_lib.text(lib.tmbus_delivery_log_peer(d)),
            seq=lib.tmbus_delivery_seq(d),
            created_at=lib.tmbus_delivery_created_at(d),
            expires_at=lib.tmbus_delivery_expires_at(d),
            recipients=tuple(_lib.text(lib.tmbus_delivery_recipient(d, i))
                             for i in range(lib.tmbus_delivery_recipient_count(d))),
            kind=kind,
            payload=payload,
            _client=self,
        )
        if kind == "need":
            p = lib.tmbus_delivery_need(d)
            return NeedDelivery(**common, need=_convert.need_from(p.contents) if p else None)
        if kind == "offer":
            p = lib.tmbus_delivery_offer(d)
            return OfferDelivery(**common, offer=_convert.offer_from(p.contents) if p else None)
        if kind == "need_update":
            p = lib.tmbus_delivery_need_update(d)
            return NeedUpdateDelivery(
                **common, change=_convert.need_change_from(p.contents) if p else None)
        if kind == "offer_update":
            p = lib.tmbus_delivery_offer_update(d)
            return OfferUpdateDelivery(
                **common, change=_convert.offer_change_from(p.contents) if p else None)
        if kind == "receipt":
            receipts = []
            for i in range(lib.tmbus_delivery_receipt_count(d)):
                p = lib.tmbus_delivery_receipt_at(d, i)
                if p:
                    receipts.append(_convert.receipt_from(p.contents))
            return ReceiptDelivery(**common, receipts=tuple(receipts))
        return Delivery(**common)

    # ---- the board ------------------------------------------------------

    def board(
        self,
        which: str = "needs",
        *,
        limit: int = 0,
        after: Optional[str] = None,
        need_id: Optional[IdLike] = None,
        need_status: Union[NeedStatus, str, None] = None,
        statuses: Sequence[Union[NeedStatus, OfferStatus, str]] = (),
        categories: Sequence[Union[Category, str]] = (),
        priorities: Sequence[Union[Priority, str]] = (),
        members: Sequence[str] = (),
        updated_since: Optional[int] = None,
        id_prefix: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Page:
        """One page of the board's needs (which="needs") or offers
        (which="offers") that this client may read, ordered by id.

        limit: items in the page (0 for 100, at most 1000); after: the
        previous page's Page.next. Filters (each list ORed within, all
        ANDed; empty means any): need_id (needs: that need; offers: those
        answering it), need_status (needs in it; offers whose need is),
        statuses (the items' own), categories and priorities (needs only),
        members (owners of needs, donors of offers), updated_since (Unix
        seconds), id_prefix (1..64 hex digits). Paging never skips or
        repeats an item that existed when the first page was asked."""
        list_code = {"needs": _LIST_NEEDS, "offers": _LIST_OFFERS}.get(which)
        if list_code is None:
            raise InvalidArgument(f"which must be 'needs' or 'offers', not {which!r}")
        status_cls = NeedStatus if list_code == _LIST_NEEDS else OfferStatus
        st, n_st = _lib.int_array(status_cls.parse(s) for s in statuses)
        cats, n_cats = _lib.int_array(Category.parse(c) for c in categories)
        pris, n_pris = _lib.int_array(Priority.parse(p) for p in priorities)
        mem, n_mem = _lib.str_array(members)
        q = _lib.BoardQuery(
            list=list_code, limit=limit, after=after.encode() if after else None,
            need_id=_convert.id_bytes(need_id, "need_id") if need_id is not None else None,
            need_status=int(NeedStatus.parse(need_status)) if need_status is not None else 0,
            statuses=st, n_statuses=n_st, categories=cats, n_categories=n_cats,
            priorities=pris, n_priorities=n_pris, members=mem, n_members=n_mem,
            updated_since=updated_since or 0,
            id_prefix=id_prefix.encode() if id_prefix else None,
        )
        out = ctypes.c_void_p()
        with self._lock:
            self._check(self._lib.tmbus_board_query(self._h(), ctypes.byref(q), self._ms(timeout),
                                                    ctypes.byref(out)))
            try:
                needs, offers = self._board_items(out)
                nxt = _lib.text(self._lib.tmbus_board_next(out)) or None
            finally:
                self._lib.tmbus_board_free(ctypes.byref(out))
        return Page(needs=needs, offers=offers, next=nxt)

    def pages(self, which: str = "needs", **query: Any) -> Iterator[Page]:
        """Every page of a board query (board()'s arguments, without after),
        one query per page as the iteration goes."""
        if "after" in query:
            raise InvalidArgument("pages() starts at the first page: no after")
        after = None
        while True:
            page = self.board(which, after=after, **query)
            yield page
            if page.next is None:
                return
            after = page.next

    def needs(self, **query: Any) -> Iterator[BoardNeed]:
        """Every need matching board()'s filters, page after page."""
        for page in self.pages("needs", **query):
            yield from page.needs

    def offers(self, **query: Any) -> Iterator[BoardOffer]:
        """Every offer matching board()'s filters, page after page."""
        for page in self.pages("offers", **query):
            yield from page.offers

    def snapshot(self, *, need_id: Optional[IdLike] = None,
                 need_status: Union[NeedStatus, str, None] = None,
                 timeout: Optional[float] = None) -> Board:
        """The whole board in one object (tmbus_board): every need and offer,
        or only need need_id and its offers (NotFound when it is not on this
        board), or only needs in need_status. Memory grows with the board:
        for large boards iterate needs()/offers() instead."""
        status = NeedStatus.parse(need_status).label if need_status is not None else None
        out = ctypes.c_void_p()
        with self._lock:
            self._check(self._lib.tmbus_board(
                self._h(), _convert.id_bytes(need_id, "need_id") if need_id is not None else None,
                status.encode() if status else None, self._ms(timeout), ctypes.byref(out)))
            try:
                needs, offers = self._board_items(out)
            finally:
                self._lib.tmbus_board_free(ctypes.byref(out))
        return Board(needs=needs, offers=offers)

    def _board_items(self, b: ctypes.c_void_p):
        lib = self._lib
        needs: List[BoardNeed] = []
        for i in range(lib.tmbus_board_need_count(b)):
            c = lib.tmbus_board_need_at(b, i).contents
            needs.append(BoardNeed(
                id=bytes(c.id).hex(), owner=_lib.text(c.owner), created_at=c.created_at,
                need=_convert.need_from(c.need), status=NeedStatus.parse(_lib.text(c.status)),
                accepted_quantity=c.accepted_quantity, delivered_quantity=c.delivered_quantity,
                updated_at=c.updated_at, is_author_revoked=bool(c.is_author_revoked)))
        offers: List[BoardOffer] = []
        for i in range(lib.tmbus_board_offer_count(b)):
            c = lib.tmbus_board_offer_at(b, i).contents
            offers.append(BoardOffer(
                id=bytes(c.id).hex(), donor=_lib.text(c.donor), created_at=c.created_at,
                offer=_convert.offer_from(c.offer), status=OfferStatus.parse(_lib.text(c.status)),
                updated_at=c.updated_at, is_author_revoked=bool(c.is_author_revoked)))
        return tuple(needs), tuple(offers)

    # ---- reports, delivery state, status ---------------------------------

    def report(self, *, timeout: Optional[float] = None) -> Report:
        """The board's reports through this client's clearance: open needs
        (the first 1,000, critical first) and pledged and delivered EUR cents
        per donor, category and sector."""
        out = ctypes.c_void_p()
        lib = self._lib
        with self._lock:
            self._check(lib.tmbus_report(self._h(), self._ms(timeout), ctypes.byref(out)))
            try:
                needs = []
                for i in range(lib.tmbus_report_need_count(out)):
                    c = lib.tmbus_report_need_at(out, i).contents
                    needs.append(ReportNeed(
                        id=_convert.id_hex(_lib.field_id(c, "id")), owner=_lib.text(c.owner),
                        title=_lib.text(c.title), status=NeedStatus.parse(_lib.text(c.status)),
                        priority=_convert._opt_enum(Priority, c.priority),
                        deadline=_lib.text(c.deadline) or None, is_overdue=bool(c.is_overdue),
                        quantity=c.quantity, accepted_quantity=c.accepted_quantity,
                        value_cents=c.value_cents, is_author_revoked=bool(c.is_author_revoked)))

                def totals(by: int):
                    return tuple(_total(lib.tmbus_report_total_at(out, by, i).contents)
                                 for i in range(lib.tmbus_report_total_count(out, by)))

                return Report(
                    needs=tuple(needs), need_total=lib.tmbus_report_need_total(out),
                    by_donor=totals(_REPORT_BY_DONOR), by_category=totals(_REPORT_BY_CATEGORY),
                    by_sector=totals(_REPORT_BY_SECTOR),
                    overall=_total(lib.tmbus_report_overall(out).contents))
            finally:
                lib.tmbus_report_free(ctypes.byref(out))

    def delivery_state(self, post_id: IdLike, *,
                       timeout: Optional[float] = None) -> List[DeliveryEntry]:
        """How far one of this member's posts got with each recipient, as
        their nodes' receipts said (ordered by member). NotFound for an id
        that is no post of this client (or above its clearance)."""
        out = ctypes.c_void_p()
        lib = self._lib
        with self._lock:
            self._check(lib.tmbus_delivery_state(self._h(), _convert.id_bytes(post_id, "post_id"),
                                                 self._ms(timeout), ctypes.byref(out)))
            try:
                entries = []
                for i in range(lib.tmbus_delivery_state_count(out)):
                    c = lib.tmbus_delivery_state_at(out, i).contents
                    entries.append(DeliveryEntry(member=_lib.text(c.member),
                                                 state=_lib.text(c.state),
                                                 reason=_lib.text(c.reason), at=c.at))
                return entries
            finally:
                lib.tmbus_delivery_state_free(ctypes.byref(out))

    def _roster_entries(self, out: ctypes.c_void_p) -> List[RosterEntry]:
        lib = self._lib
        try:
            entries = []
            for i in range(lib.tmbus_roster_history_count(out)):
                c = lib.tmbus_roster_history_at(out, i).contents
                entries.append(RosterEntry(version=c.version, hash=bytes(c.hash).hex(),
                                           trusted_at=c.trusted_at, size=c.size))
            return entries
        finally:
            lib.tmbus_roster_history_free(ctypes.byref(out))

    def roster_history(self, *, timeout: Optional[float] = None) -> List[RosterEntry]:
        """The rosters the node has trusted, by increasing version (at most
        the newest 1,000); the last is the one in force."""
        out = ctypes.c_void_p()
        with self._lock:
            self._check(self._lib.tmbus_roster_history(self._h(), self._ms(timeout),
                                                       ctypes.byref(out)))
            return self._roster_entries(out)

    def roster_publish(self, signed_roster: bytes, *,
                       timeout: Optional[float] = None) -> List[RosterEntry]:
        """Publishes a roster update (the bytes `tmbus-admin roster combine`
        wrote) through the node, which checks it, commits it, puts it in force
        and sends it to its peers; returns the history that now ends with it.
        Admin clients only (Denied otherwise); a refused update raises
        InvalidArgument with the node's reason."""
        out = ctypes.c_void_p()
        data = bytes(signed_roster)
        with self._lock:
            self._check(self._lib.tmbus_roster_publish(self._h(), data, len(data),
                                                       self._ms(timeout), ctypes.byref(out)))
            return self._roster_entries(out)

    def status(self, *, timeout: Optional[float] = None) -> Status:
        """The node's status: member, roster, version, counters, peer links."""
        out = ctypes.c_void_p()
        lib = self._lib
        with self._lock:
            self._check(lib.tmbus_status(self._h(), self._ms(timeout), ctypes.byref(out)))
            try:
                counters = {}
                for i in range(lib.tmbus_status_counter_count(out)):
                    c = lib.tmbus_status_counter_at(out, i).contents
                    counters[_lib.text(c.name)] = c.value
                peers = []
                for i in range(lib.tmbus_status_peer_count(out)):
                    c = lib.tmbus_status_peer_at(out, i).contents
                    peers.append(Peer(member=_lib.text(c.member), state=_lib.text(c.state),
                                      silent_ms=c.silent_ms, lag=c.lag, behind=c.behind))
                digest = _lib.id_at(lib.tmbus_status_board_digest(out))
                heads = []
                for i in range(lib.tmbus_status_key_switch_count(out)):
                    peer, seq = ctypes.c_char_p(), ctypes.c_uint64()
                    if lib.tmbus_status_key_switch_head(out, i, ctypes.byref(peer),
                                                        ctypes.byref(seq)) == 0:
                        heads.append((_lib.text(peer.value), seq.value))
                return Status(
                    member=_lib.text(lib.tmbus_status_member(out)),
                    roster_version=lib.tmbus_status_roster_version(out),
                    version=_lib.text(lib.tmbus_status_version(out)),
                    uptime_s=lib.tmbus_status_uptime_s(out),
                    store_full=bool(lib.tmbus_status_store_full(out)),
                    recovering=bool(lib.tmbus_status_recovering(out)),
                    audit_epoch=lib.tmbus_status_audit_epoch(out),
                    retention_pruned=lib.tmbus_status_retention_pruned(out),
                    retention_bytes_freed=lib.tmbus_status_retention_bytes_freed(out),
                    envelopes=lib.tmbus_status_envelopes(out),
                    inbox=lib.tmbus_status_inbox(out),
                    board_digest=digest.hex() if digest is not None else None,
                    counters=counters, peers=tuple(peers),
                    key_switch_id=lib.tmbus_status_key_switch_id(out),
                    key_switch_heads=tuple(heads))
            finally:
                lib.tmbus_status_free(ctypes.byref(out))


def _total(c: _lib.ReportTotal) -> ReportTotal:
    return ReportTotal(key=_lib.text(c.key), pledged_cents=c.pledged_cents,
                       delivered_cents=c.delivered_cents)


def _with_item(p: Posted, item: Any) -> Posted:
    return Posted(ticket=p.ticket, code=p.code, reason=p.reason, ids=p.ids, item=item)


class Subscription:
    """An iterator of a subscription's deliveries (Client.subscribe). Each
    item is a Delivery subclass; ack it (delivery.ack()) once handled, or
    it comes again after a reconnect. Iteration stops after idle_timeout
    seconds without a delivery (never, when None) or when the client is
    closed."""

    def __init__(self, client: Client, idle_timeout: Optional[float]):
        self.client = client
        self.idle_timeout = idle_timeout

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Delivery:
        # Waits in short slices, so that other threads' calls on the same
        # client get the lock in between.
        deadline = None if self.idle_timeout is None else time.monotonic() + self.idle_timeout
        while not self.client.closed:
            wait = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                d = self.client.next_delivery(wait)
            except Closed:
                break
            if d is not None:
                return d
        raise StopIteration

    def next(self, timeout: Optional[float] = None) -> Optional[Delivery]:
        """The next delivery within timeout (the client's default when None),
        or None."""
        return self.client.next_delivery(timeout)
