"""Between the dataclasses of tmbus.types and the C structs of tmbus._lib:
filling the structs a call reads (keeping the encoded strings alive with
them) and copying what the library returns into Python values.

Everything here runs while the caller holds the C object; nothing keeps a
pointer into it afterwards.
"""

from __future__ import annotations

import ctypes
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from . import _lib
from .errors import InvalidArgument, from_code
from .types import (
    Category,
    Filter,
    Need,
    NeedAction,
    NeedChange,
    Offer,
    OfferAction,
    OfferChange,
    Priority,
    Receipt,
    ReceiptState,
    Sector,
    Tlp,
)

IdLike = Union[str, bytes, bytearray]


def id_bytes(value: IdLike, what: str = "id") -> bytes:
    """32 raw bytes from 64 hex digits (either case) or 32 bytes."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != _lib.ID_BYTES:
            raise InvalidArgument(f"{what} must be {_lib.ID_BYTES} bytes, not {len(value)}")
        return bytes(value)
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(value) != 2 * _lib.ID_BYTES or len(raw) != _lib.ID_BYTES:
            raise InvalidArgument(f"{what} {value!r} is not {2 * _lib.ID_BYTES} hex digits")
        return raw
    raise InvalidArgument(f"{what} must be a hex string or bytes, not {type(value).__name__}")


def id_hex(raw: Optional[bytes]) -> Optional[str]:
    return raw.hex() if raw is not None else None


def _enc(value: Optional[str]) -> Optional[bytes]:
    return value.encode("utf-8") if value else None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an int, not {type(value).__name__}")
    if value < 0 or value > 2**63 - 1:
        raise InvalidArgument(f"{what} {value} is out of range")
    return value


def need_struct(need: Need) -> _lib.Need:
    """A struct tmbus_need for need; unset enums are 0 and empty strings NULL
    (the ctypes struct keeps the encoded bytes alive)."""
    return _lib.Need(
        beneficiary=_enc(need.beneficiary),
        sector=int(need.sector or 0),
        category=int(need.category or 0),
        title=_enc(need.title),
        description=_enc(need.description),
        quantity=_int(need.quantity, "quantity"),
        unit=_enc(need.unit),
        value_cents=_int(need.value_cents, "value_cents"),
        priority=int(need.priority or 0),
        deadline=_enc(need.deadline),
        tlp=int(need.tlp or 0),
        contact=_enc(need.contact),
    )


def offer_struct(offer: Offer) -> _lib.Offer:
    """A struct tmbus_offer for offer."""
    return _lib.Offer(
        need_id=id_bytes(offer.need_id, "need_id") if offer.need_id else None,
        description=_enc(offer.description),
        quantity=_int(offer.quantity, "quantity"),
        value_cents=_int(offer.value_cents, "value_cents"),
        delivery_date=_enc(offer.delivery_date),
        conditions=_enc(offer.conditions),
        tlp=int(offer.tlp or 0),
    )


def validate_need(need: Need) -> None:
    lib = _lib.load()
    why = ctypes.create_string_buffer(_lib.ERROR_MAX)
    rc = lib.tmbus_need_validate(ctypes.byref(need_struct(need)), why, len(why))
    if rc != 0:
        raise from_code(rc, _lib.text(why.value))


def validate_offer(offer: Offer) -> None:
    lib = _lib.load()
    why = ctypes.create_string_buffer(_lib.ERROR_MAX)
    rc = lib.tmbus_offer_validate(ctypes.byref(offer_struct(offer)), why, len(why))
    if rc != 0:
        raise from_code(rc, _lib.text(why.value))


def filter_struct(flt: Filter) -> Tuple[_lib.Filter, List[Any]]:
    """A struct tmbus_filter and the arrays it points to (keep both)."""
    kinds = [k.replace("-", "_") for k in flt.kinds]
    kinds_arr, n_kinds = _lib.str_array(kinds)
    cats, n_cats = _lib.int_array(Category.parse(c) for c in flt.categories)
    tlps, n_tlps = _lib.int_array(Tlp.parse(t) for t in flt.tlps)
    senders, n_senders = _lib.str_array(flt.senders)
    s = _lib.Filter(
        kinds=kinds_arr, n_kinds=n_kinds, categories=cats, n_categories=n_cats, tlps=tlps,
        n_tlps=n_tlps, senders=senders, n_senders=n_senders,
    )
    return s, [kinds_arr, cats, tlps, senders]


def _opt_enum(cls, value: int):
    try:
        return cls(value) if value else None
    except ValueError:  # a value from a newer node
        return None


def need_from(c: _lib.Need) -> Need:
    """A Need copied from a struct tmbus_need the library returned."""
    need = Need.__new__(Need)  # no parsing: the values came from the library
    need.title = _lib.text(c.title)
    need.category = _opt_enum(Category, c.category)
    need.sector = _opt_enum(Sector, c.sector)
    need.quantity = c.quantity
    need.priority = _opt_enum(Priority, c.priority)
    need.tlp = _opt_enum(Tlp, c.tlp)
    need.unit = _lib.text(c.unit)
    need.value_cents = c.value_cents
    need.beneficiary = _lib.text(c.beneficiary)
    need.description = _lib.text(c.description)
    need.deadline = _lib.text(c.deadline) or None
    need.contact = _lib.text(c.contact)
    return need


def offer_from(c: _lib.Offer) -> Offer:
    """An Offer copied from a struct tmbus_offer the library returned."""
    offer = Offer.__new__(Offer)
    offer.quantity = c.quantity
    offer.tlp = _opt_enum(Tlp, c.tlp)
    offer.need_id = id_hex(_lib.field_id(c, "need_id"))
    offer.description = _lib.text(c.description)
    offer.value_cents = c.value_cents
    offer.delivery_date = _lib.text(c.delivery_date) or None
    offer.conditions = _lib.text(c.conditions)
    return offer


def need_change_from(c: _lib.NeedChange) -> NeedChange:
    return NeedChange(
        need_id=id_hex(_lib.field_id(c, "need_id")),
        action=_opt_enum(NeedAction, c.action),
        edit=need_from(c.edit) if c.has_edit else None,
        reason=_lib.text(c.reason),
    )


def offer_change_from(c: _lib.OfferChange) -> OfferChange:
    return OfferChange(
        offer_id=id_hex(_lib.field_id(c, "offer_id")),
        action=_opt_enum(OfferAction, c.action),
        reason=_lib.text(c.reason),
    )


def receipt_from(c: _lib.Receipt) -> Receipt:
    return Receipt(
        envelope_id=id_hex(_lib.field_id(c, "envelope_id")),
        state=_opt_enum(ReceiptState, c.state),
        reason=_lib.text(c.reason),
    )


def recipients(to: Optional[Iterable[str]]) -> Tuple[Any, int, bool]:
    """(recipients array, count, all) for a post: None means every roster
    member; otherwise the member ids named (at least one)."""
    if to is None:
        return None, 0, True
    if isinstance(to, str):
        to = [to]
    members = list(to)
    if not members:
        raise InvalidArgument("no recipients: name at least one member, or to=None for all")
    arr, n = _lib.str_array(members)
    return arr, n, False


def fields_to_dict(c: ctypes.Structure) -> Dict[str, Any]:
    """A struct's fields by name (for debugging and tests)."""
    return {name: getattr(c, name) for name, _ in c._fields_}
