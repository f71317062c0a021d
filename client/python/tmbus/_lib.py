"""The C library underneath: finding libtmbus, and every function and struct of
tmbus.h that this package calls, declared once with ctypes.

Only this module knows C types. It never keeps a Python reference to what
the library owns beyond the call that reads it: the modules above copy what
they need and free the object at once. tests/test_bindings.py checks each
declaration here against client/tmbus.h and the loaded library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint64,
    c_void_p,
)
from typing import Optional

KEY_BYTES = 32
ID_BYTES = 32
ID_HEX_BYTES = 65
ERROR_MAX = 256  # enough for connect's and *_validate's reasons
BOARD_CURSOR_BYTES = 129

# The soname this package is written against (libtmbus.so.TMBUS_ABI): a
# library of another ABI may differ in its structs or codes, so it is never
# picked by default.
SONAME = "libtmbus.so.1"

# Opaque handles are plain pointers here; "struct tmbus_x **out" is a
# pointer to one.
handle_p = c_void_p
handle_pp = POINTER(c_void_p)


class Need(Structure):
    """struct tmbus_need"""

    _fields_ = [
        ("beneficiary", c_char_p),
        ("sector", c_int),
        ("category", c_int),
        ("title", c_char_p),
        ("description", c_char_p),
        ("quantity", c_uint64),
        ("unit", c_char_p),
        ("value_cents", c_uint64),
        ("priority", c_int),
        ("deadline", c_char_p),
        ("tlp", c_int),
        ("contact", c_char_p),
    ]


class Offer(Structure):
    """struct tmbus_offer"""

    _fields_ = [
        ("need_id", c_char_p),
        ("description", c_char_p),
        ("quantity", c_uint64),
        ("value_cents", c_uint64),
        ("delivery_date", c_char_p),
        ("conditions", c_char_p),
        ("tlp", c_int),
    ]


class Filter(Structure):
    """struct tmbus_filter"""

    _fields_ = [
        ("kinds", POINTER(c_char_p)),
        ("n_kinds", c_size_t),
        ("categories", POINTER(c_int)),
        ("n_categories", c_size_t),
        ("tlps", POINTER(c_int)),
        ("n_tlps", c_size_t),
        ("senders", POINTER(c_char_p)),
        ("n_senders", c_size_t),
    ]


class BoardQuery(Structure):
    """struct tmbus_board_query"""

    _fields_ = [
        ("list", c_int),
        ("limit", c_uint),
        ("after", c_char_p),
        ("need_id", c_char_p),
        ("need_status", c_int),
        ("statuses", POINTER(c_int)),
        ("n_statuses", c_size_t),
        ("categories", POINTER(c_int)),
        ("n_categories", c_size_t),
        ("priorities", POINTER(c_int)),
        ("n_priorities", c_size_t),
        ("members", POINTER(c_char_p)),
        ("n_members", c_size_t),
        ("updated_since", c_int64),
        ("id_prefix", c_char_p),
    ]


class BoardNeed(Structure):
    """struct tmbus_board_need"""

    _fields_ = [
        ("id", c_uint8 * ID_BYTES),
        ("owner", c_char_p),
        ("created_at", c_int64),
        ("need", Need),
        ("status", c_char_p),
        ("accepted_quantity", c_uint64),
        ("delivered_quantity", c_uint64),
        ("updated_at", c_int64),
        ("is_author_revoked", c_bool),
    ]


class BoardOffer(Structure):
    """struct tmbus_board_offer"""

    _fields_ = [
        ("id", c_uint8 * ID_BYTES),
        ("donor", c_char_p),
        ("created_at", c_int64),
        ("offer", Offer),
        ("status", c_char_p),
        ("updated_at", c_int64),
        ("is_author_revoked", c_bool),
    ]


class ReportNeed(Structure):
    """struct tmbus_report_need"""

    _fields_ = [
        ("id", c_char_p),
        ("owner", c_char_p),
        ("title", c_char_p),
        ("status", c_char_p),
        ("priority", c_int),
        ("deadline", c_char_p),
        ("is_overdue", c_bool),
        ("quantity", c_uint64),
        ("accepted_quantity", c_uint64),
        ("value_cents", c_uint64),
        ("is_author_revoked", c_bool),
    ]


class ReportTotal(Structure):
    """struct tmbus_report_total"""

    _fields_ = [
        ("key", c_char_p),
        ("pledged_cents", c_uint64),
        ("delivered_cents", c_uint64),
    ]


class DeliveryEntry(Structure):
    """struct tmbus_delivery_entry"""

    _fields_ = [
        ("member", c_char_p),
        ("state", c_char_p),
        ("reason", c_char_p),
        ("at", c_int64),
    ]


class NeedChange(Structure):
    """struct tmbus_need_change"""

    _fields_ = [
        ("need_id", c_char_p),
        ("action", c_int),
        ("has_edit", c_bool),
        ("edit", Need),
        ("reason", c_char_p),
    ]


class OfferChange(Structure):
    """struct tmbus_offer_change"""

    _fields_ = [
        ("offer_id", c_char_p),
        ("action", c_int),
        ("reason", c_char_p),
    ]


class Receipt(Structure):
    """struct tmbus_receipt"""

    _fields_ = [
        ("envelope_id", c_char_p),
        ("state", c_int),
        ("reason", c_char_p),
    ]


class Counter(Structure):
    """struct tmbus_counter"""

    _fields_ = [("name", c_char_p), ("value", c_uint64)]


class Peer(Structure):
    """struct tmbus_peer"""

    _fields_ = [
        ("member", c_char_p),
        ("state", c_char_p),
        ("silent_ms", c_int64),
        ("lag", c_uint64),
        ("behind", c_uint64),
    ]


class RosterEntry(Structure):
    """struct tmbus_roster_entry"""

    _fields_ = [
        ("version", c_uint64),
        ("hash", c_uint8 * ID_BYTES),
        ("trusted_at", c_int64),
        ("size", c_uint64),
    ]


# The structs above by their C names, for the test that compares them with
# tmbus.h. Id fields the library returns are declared c_char_p only to say
# "a pointer to bytes": read them with id_at, never as C strings (an id may
# hold a 0 byte).
STRUCTS = {
    "tmbus_need": Need,
    "tmbus_offer": Offer,
    "tmbus_filter": Filter,
    "tmbus_board_query": BoardQuery,
    "tmbus_board_need": BoardNeed,
    "tmbus_board_offer": BoardOffer,
    "tmbus_report_need": ReportNeed,
    "tmbus_report_total": ReportTotal,
    "tmbus_delivery_entry": DeliveryEntry,
    "tmbus_need_change": NeedChange,
    "tmbus_offer_change": OfferChange,
    "tmbus_receipt": Receipt,
    "tmbus_counter": Counter,
    "tmbus_peer": Peer,
    "tmbus_roster_entry": RosterEntry,
}

# Byte buffers in and out (ids, keys, payloads, error text) are c_char_p:
# a bytes object or a create_string_buffer passes without a copy. A
# returned "const uint8_t *" is c_void_p, read with ctypes.string_at.
_s = c_char_p
_p = c_void_p
_n = c_size_t
_pp = handle_pp

# name: (restype, [argtypes]) for every function of tmbus.h this package
# calls, in the header's order.
FUNCTIONS = {
    "tmbus_version": (_s, []),
    "tmbus_version_number": (c_int, []),
    "tmbus_strerror": (_s, [c_int]),
    "tmbus_last_error": (_s, [_p]),
    "tmbus_connect": (c_int, [_s, _s, _s, _s, c_int, _pp, _s, _n]),
    "tmbus_connect_files": (c_int, [_s, _s, _s, c_int, _pp, _s, _n]),
    "tmbus_close": (None, [_pp]),
    "tmbus_connect_config": (c_int, [_s, c_int, _pp, _s, _n]),
    "tmbus_post": (c_int, [_p, _s, _n, POINTER(c_char_p), _n, c_bool, c_int64, c_int, _s]),
    "tmbus_post_window": (c_int, [_p, c_uint]),
    "tmbus_posts_in_flight": (_n, [_p]),
    "tmbus_post_send": (
        c_int,
        [_p, _s, _n, POINTER(c_char_p), _n, c_bool, c_int64, c_int, c_int, POINTER(c_uint64)],
    ),
    "tmbus_posted_next": (c_int, [_p, c_int, _pp]),
    "tmbus_post_flush": (c_int, [_p, c_int]),
    "tmbus_posted_ticket": (c_uint64, [_p]),
    "tmbus_posted_result": (c_int, [_p]),
    "tmbus_posted_reason": (_s, [_p]),
    "tmbus_posted_count": (_n, [_p]),
    "tmbus_posted_id": (_p, [_p, _n]),
    "tmbus_posted_free": (None, [_pp]),
    "tmbus_subscribe": (c_int, [_p, c_uint, c_int]),
    "tmbus_subscribe_filtered": (c_int, [_p, c_uint, POINTER(Filter), c_int]),
    "tmbus_next": (c_int, [_p, c_int, _pp]),
    "tmbus_ack": (c_int, [_p, c_uint64, c_int]),
    "tmbus_status": (c_int, [_p, c_int, _pp]),
    "tmbus_fd": (c_int, [_p]),
    "tmbus_tlp_name": (_s, [c_int]),
    "tmbus_tlp_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_tlp_names": (_s, []),
    "tmbus_sector_name": (_s, [c_int]),
    "tmbus_sector_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_sector_names": (_s, []),
    "tmbus_category_name": (_s, [c_int]),
    "tmbus_category_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_category_names": (_s, []),
    "tmbus_priority_name": (_s, [c_int]),
    "tmbus_priority_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_priority_names": (_s, []),
    "tmbus_need_status_name": (_s, [c_int]),
    "tmbus_need_status_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_need_status_names": (_s, []),
    "tmbus_offer_status_name": (_s, [c_int]),
    "tmbus_offer_status_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_offer_status_names": (_s, []),
    "tmbus_need_action_name": (_s, [c_int]),
    "tmbus_need_action_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_need_action_names": (_s, []),
    "tmbus_offer_action_name": (_s, [c_int]),
    "tmbus_offer_action_parse": (c_int, [_s, POINTER(c_int)]),
    "tmbus_offer_action_names": (_s, []),
    "tmbus_receipt_state_name": (_s, [c_int]),
    "tmbus_kind_parse": (c_int, [_s, POINTER(c_char_p)]),
    "tmbus_kind_names": (_s, []),
    "tmbus_id_to_hex": (None, [_s, _s]),
    "tmbus_id_from_hex": (c_int, [_s, _s]),
    "tmbus_need_validate": (c_int, [POINTER(Need), _s, _n]),
    "tmbus_offer_validate": (c_int, [POINTER(Offer), _s, _n]),
    "tmbus_post_need": (c_int, [_p, POINTER(Need), POINTER(c_char_p), _n, c_bool, c_int, _s]),
    "tmbus_post_need_send": (
        c_int,
        [_p, POINTER(Need), POINTER(c_char_p), _n, c_bool, c_int, c_int, POINTER(c_uint64)],
    ),
    "tmbus_post_offer": (c_int, [_p, POINTER(Offer), POINTER(c_char_p), _n, c_bool, c_int, _s]),
    "tmbus_need_update": (
        c_int,
        [_p, _s, c_int, POINTER(Need), _s, POINTER(c_char_p), _n, c_bool, c_int, _s],
    ),
    "tmbus_offer_update": (
        c_int,
        [_p, _s, c_int, _s, POINTER(c_char_p), _n, c_bool, c_int, _s],
    ),
    "tmbus_board_query": (c_int, [_p, POINTER(BoardQuery), c_int, _pp]),
    "tmbus_board_next": (_s, [_p]),
    "tmbus_board": (c_int, [_p, _s, _s, c_int, _pp]),
    "tmbus_board_need_count": (_n, [_p]),
    "tmbus_board_need_at": (POINTER(BoardNeed), [_p, _n]),
    "tmbus_board_offer_count": (_n, [_p]),
    "tmbus_board_offer_at": (POINTER(BoardOffer), [_p, _n]),
    "tmbus_board_free": (None, [_pp]),
    "tmbus_report": (c_int, [_p, c_int, _pp]),
    "tmbus_report_need_count": (_n, [_p]),
    "tmbus_report_need_total": (c_uint64, [_p]),
    "tmbus_report_need_at": (POINTER(ReportNeed), [_p, _n]),
    "tmbus_report_total_count": (_n, [_p, c_int]),
    "tmbus_report_total_at": (POINTER(ReportTotal), [_p, c_int, _n]),
    "tmbus_report_overall": (POINTER(ReportTotal), [_p]),
    "tmbus_report_free": (None, [_pp]),
    "tmbus_delivery_state": (c_int, [_p, _s, c_int, _pp]),
    "tmbus_delivery_state_count": (_n, [_p]),
    "tmbus_delivery_state_at": (POINTER(DeliveryEntry), [_p, _n]),
    "tmbus_delivery_state_free": (None, [_pp]),
    "tmbus_roster_publish": (c_int, [_p, _s, _n, c_int, _pp]),
    "tmbus_roster_history": (c_int, [_p, c_int, _pp]),
    "tmbus_roster_history_count": (_n, [_p]),
    "tmbus_roster_history_at": (POINTER(RosterEntry), [_p, _n]),
    "tmbus_roster_history_free": (None, [_pp]),
    "tmbus_delivery_number": (c_uint64, [_p]),
    "tmbus_delivery_id": (_p, [_p]),
    "tmbus_delivery_sender": (_s, [_p]),
    "tmbus_delivery_log_peer": (_s, [_p]),
    "tmbus_delivery_seq": (c_uint64, [_p]),
    "tmbus_delivery_created_at": (c_int64, [_p]),
    "tmbus_delivery_expires_at": (c_int64, [_p]),
    "tmbus_delivery_payload": (_p, [_p, POINTER(c_size_t)]),
    "tmbus_delivery_recipient_count": (_n, [_p]),
    "tmbus_delivery_recipient": (_s, [_p, _n]),
    "tmbus_delivery_free": (None, [_pp]),
    "tmbus_delivery_kind": (_s, [_p]),
    "tmbus_delivery_need": (POINTER(Need), [_p]),
    "tmbus_delivery_offer": (POINTER(Offer), [_p]),
    "tmbus_delivery_need_update": (POINTER(NeedChange), [_p]),
    "tmbus_delivery_offer_update": (POINTER(OfferChange), [_p]),
    "tmbus_delivery_receipt_count": (_n, [_p]),
    "tmbus_delivery_receipt_at": (POINTER(Receipt), [_p, _n]),
    "tmbus_status_member": (_s, [_p]),
    "tmbus_status_roster_version": (c_uint64, [_p]),
    "tmbus_status_version": (_s, [_p]),
    "tmbus_status_uptime_s": (c_uint64, [_p]),
    "tmbus_status_store_full": (c_bool, [_p]),
    "tmbus_status_recovering": (c_bool, [_p]),
    "tmbus_status_audit_epoch": (c_uint64, [_p]),
    "tmbus_status_retention_pruned": (c_uint64, [_p]),
    "tmbus_status_retention_bytes_freed": (c_uint64, [_p]),
    "tmbus_status_key_switch_id": (c_uint, [_p]),
    "tmbus_status_key_switch_count": (_n, [_p]),
    "tmbus_status_key_switch_head": (c_int, [_p, _n, POINTER(c_char_p), POINTER(c_uint64)]),
    "tmbus_status_envelopes": (c_uint64, [_p]),
    "tmbus_status_inbox": (c_uint64, [_p]),
    "tmbus_status_board_digest": (_p, [_p]),
    "tmbus_status_counter_count": (_n, [_p]),
    "tmbus_status_counter_at": (POINTER(Counter), [_p, _n]),
    "tmbus_status_peer_count": (_n, [_p]),
    "tmbus_status_peer_at": (POINTER(Peer), [_p, _n]),
    "tmbus_status_free": (None, [_pp]),
}


class LibraryNotFound(ImportError):
    """libtmbus could not be loaded: not installed, or TMBUS_LIBRARY names
    something that is not it."""


_loaded: Optional[ctypes.CDLL] = None
_loaded_path: Optional[str] = None
_load_lock = threading.Lock()


def _candidates() -> list:
    """Where to look, in order: $TMBUS_LIBRARY alone when set; else what the
    dynamic linker's cache finds for "tmbus", then the soname itself (which
    also honours LD_LIBRARY_PATH)."""
    path = os.environ.get("TMBUS_LIBRARY")
    if path:
        return [path]
    found = []
    name = ctypes.util.find_library("tmbus")
    # find_library may find a libtmbus.so.N of another ABI.
    if name and name.startswith(SONAME) and name != SONAME:
        found.append(name)
    found.append(SONAME)
    return found


def load() -> ctypes.CDLL:
    """Loads libtmbus once per process and declares every function of
    FUNCTIONS on it. Raises LibraryNotFound with every place tried."""
    global _loaded, _loaded_path
    with _load_lock:
        if _loaded is not None:
            return _loaded
        tried = []
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{path}: {e}")
                continue
            missing = [name for name in FUNCTIONS if not hasattr(lib, name)]
            if missing:
                tried.append(f"{path}: lacks {', '.join(missing[:5])} (an older libtmbus?)")
                continue
            for name, (restype, argtypes) in FUNCTIONS.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
            _loaded, _loaded_path = lib, path
            return lib
        raise LibraryNotFound(
            "cannot load libtmbus ("
            + "; ".join(tried)
            + "). Install it (cmake --install BUILD, then ldconfig) or set TMBUS_LIBRARY "
            "to the path of " + SONAME
        )


def loaded_path() -> str:
    """The path or name libtmbus was loaded from (loading it if need be)."""
    load()
    assert _loaded_path is not None
    return _loaded_path


def text(value: Optional[bytes]) -> str:
    """A C string the library returned, as str ("" for NULL)."""
    return value.decode("utf-8", "replace") if value else ""


def id_at(ptr) -> Optional[bytes]:
    """ID_BYTES at a returned pointer (c_void_p, c_char_p or an int), or None
    for NULL. A c_char_p field of a struct reads as bytes cut at the first
    0 byte, so struct fields are read through their address instead (see
    field_id)."""
    if not ptr:
        return None
    return ctypes.string_at(ptr, ID_BYTES)


def field_id(struct: Structure, name: str) -> Optional[bytes]:
    """The id a struct's pointer field (declared c_char_p) points to, read as
    ID_BYTES raw bytes, or None for NULL."""
    offset = getattr(type(struct), name).offset
    return id_at(c_void_p.from_address(ctypes.addressof(struct) + offset).value)


def str_array(items) -> tuple:
    """A (const char *const *, count) pair for a list of str, or (None, 0)."""
    items = list(items or ())
    if not items:
        return None, 0
    arr = (c_char_p * len(items))(*[s.encode("utf-8") for s in items])
    return arr, len(items)


def int_array(items) -> tuple:
    """A (const int *, count) pair for a list of int, or (None, 0)."""
    items = [int(i) for i in (items or ())]
    if not items:
        return None, 0
    return (c_int * len(items))(*items), len(items)
