"""The ctypes declarations against client/tmbus.h and the loaded library:
every function the package binds exists in the library and in the header
with the same parameter and return types; every function of the header is
bound; every struct has the header's fields in order with the same types;
every enum and limit has the header's values. No node is needed.
"""

from __future__ import annotations

import ctypes
import os
import re
from ctypes import POINTER, c_bool, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint8, c_uint64
from typing import Dict, List, Tuple

import pytest

import tmbus
from tmbus import _lib, client as client_mod, errors
from conftest import HEADER

# Opaque handles of tmbus.h: passed as void pointers.
OPAQUE = {"tmbus", "tmbus_delivery", "tmbus_status", "tmbus_posted", "tmbus_board",
          "tmbus_report", "tmbus_delivery_state", "tmbus_roster_history", "tmbus_audit_page"}

# Functions of tmbus.h this package deliberately leaves out, with why.
_AUDIT = "the node's audit log is for operators: `tmbus audit` (admin clients) reads it"
UNBOUND: Dict[str, str] = {name: _AUDIT for name in (
    "tmbus_audit_list", "tmbus_audit_page_count", "tmbus_audit_page_at", "tmbus_audit_page_size",
    "tmbus_audit_page_next", "tmbus_audit_page_free", "tmbus_audit_prove",
    "tmbus_audit_proof_free")}
# Structs of those functions, not mirrored either.
UNMIRRORED = {"tmbus_audit_entry": _AUDIT, "tmbus_audit_proof": _AUDIT}


def header_text() -> str:
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def defines() -> Dict[str, int]:
    out = {}
    for name, value in re.findall(r"^#define\s+(TMBUS_\w+)\s+(.+)$", HEADER.read_text(), re.M):
        value = re.sub(r"/\*.*?\*/", "", value).strip()
        if re.fullmatch(r"\(?[0-9 *()]+\)?", value):
            out[name] = eval(value)  # noqa: S307 - digits, spaces, * and parentheses only
    return out


def without_preprocessor(text: str) -> str:
    lines, skip = [], False
    for line in text.splitlines():
        if skip or line.lstrip().startswith("#"):
            skip = line.rstrip().endswith("\\")
            continue
        lines.append(line)
    return "\n".join(lines)


def tokens_of(decl: str) -> List[str]:
    return decl.replace("*", " * ").split()


def split_param(param: str) -> Tuple[str, str]:
    """('const char * const *', 'name') for one parameter or field."""
    param = param.strip()
    array = re.search(r"\[([^\]]*)\]\s*$", param)
    if array:
        param = param[: array.start()]
    toks = tokens_of(param)
    name = ""
    if len(toks) > 1 and re.fullmatch(r"[A-Za-z_]\w*", toks[-1]):
        name = toks.pop()
    ctype = " ".join(toks)
    if array:
        ctype += " [" + array.group(1).strip() + "]"
    return ctype, name


def functions() -> Dict[str, Tuple[str, List[str]]]:
    """name: (return type, [parameter types]) for every TMBUS_EXPORT."""
    text = without_preprocessor(header_text())
    out = {}
    for decl in re.findall(r"TMBUS_EXPORT\s+(.*?);", text, re.S):
        decl = " ".join(decl.replace("TMBUS_NODISCARD", " ").split())
        m = re.fullmatch(r"(.*?)\b(tmbus_\w+)\s*\((.*)\)", decl)
        assert m, f"cannot read the declaration: {decl}"
        ret, name, params = m.groups()
        ptypes = [] if params.strip() == "void" else [split_param(p)[0] for p in params.split(",")]
        out[name] = (" ".join(tokens_of(ret)), ptypes)
    return out


def structs() -> Dict[str, List[Tuple[str, str]]]:
    text = without_preprocessor(header_text())
    out = {}
    for name, body in re.findall(r"struct\s+(tmbus_\w+)\s*\{(.*?)\}\s*;", text, re.S):
        out[name] = [split_param(f)[::-1] for f in body.split(";") if f.strip()]
    return out


def enums() -> Dict[str, Dict[str, int]]:
    text = without_preprocessor(header_text())
    out = {}
    for name, body in re.findall(r"enum\s+(tmbus_\w+)\s*\{(.*?)\}\s*;", text, re.S):
        out[name] = {k: int(v) for k, v in re.findall(r"(TMBUS_\w+)\s*=\s*(-?\d+)", body)}
    return out


def expected_ctype(ctype: str, *, is_return: bool = False, is_field: bool = False):
    """The ctypes type this package must use for a C type of tmbus.h."""
    scalars = {"int": c_int, "unsigned": c_uint, "size_t": c_size_t, "bool": c_bool,
               "int64_t": c_int64, "uint64_t": c_uint64}
    array = re.fullmatch(r"(.*) \[(\w+)\]", ctype)
    if array:
        base, size = array.groups()
        if is_field:  # an array inside a struct is the array itself
            assert base == "uint8_t", ctype
            return c_uint8 * defines()[size]
        ctype = base + " *"  # a parameter array is a pointer
    if ctype == "void":
        return None
    if ctype in scalars:
        return scalars[ctype]
    if ctype.startswith("enum "):
        return c_int
    if ctype in ("const char *", "char *"):
        return c_char_p
    if ctype in ("const char * const *", "const char * *"):
        return POINTER(c_char_p)
    if ctype == "const void *":  # a payload: bytes
        return c_char_p
    if ctype in ("const uint8_t *", "uint8_t *"):
        # In: bytes pass as c_char_p; out of a function: a pointer read
        # with string_at; in a struct: c_char_p read through field_id.
        return ctypes.c_void_p if is_return else c_char_p
    if ctype in ("const int *", "int *"):
        return POINTER(c_int)
    if ctype == "uint64_t *":
        return POINTER(c_uint64)
    if ctype == "size_t *":
        return POINTER(c_size_t)
    m = re.fullmatch(r"(?:const )?struct (tmbus\w*)( \*)?( \*)?", ctype)
    if m:
        name, p1, p2 = m.groups()
        if name in OPAQUE:
            assert p1, f"{ctype}: an opaque struct only behind a pointer"
            return POINTER(ctypes.c_void_p) if p2 else ctypes.c_void_p
        struct = _lib.STRUCTS[name]
        if not p1:
            return struct
        assert not p2, ctype
        return POINTER(struct)
    raise AssertionError(f"no ctypes rule for the C type '{ctype}'")


def test_every_header_function_is_bound():
    declared = functions()
    assert len(declared) > 100, "the header parser found too few functions"
    missing = sorted(set(declared) - set(_lib.FUNCTIONS) - set(UNBOUND))
    assert not missing, (f"tmbus.h declares {', '.join(missing)}, which the Python binding does "
                         "not bind: add each to tmbus/_lib.py FUNCTIONS (and a method), or to "
                         "UNBOUND here with the reason")


@pytest.mark.parametrize("name", sorted(_lib.FUNCTIONS))
def test_binding_matches_header(name):
    declared = functions()
    assert name in declared, f"{name} is bound but not in tmbus.h"
    ret, params = declared[name]
    restype, argtypes = _lib.FUNCTIONS[name]
    assert restype is expected_ctype(ret, is_return=True), f"{name} returns {ret}"
    assert len(argtypes) == len(params), f"{name} takes {len(params)} parameters: {params}"
    for i, (have, c) in enumerate(zip(argtypes, params)):
        assert have is expected_ctype(c), f"{name} parameter {i + 1} is {c}, bound as {have}"


def test_every_bound_function_is_in_the_library():
    lib = ctypes.CDLL(tmbus.library_path())
    absent = [name for name in _lib.FUNCTIONS if not hasattr(lib, name)]
    assert not absent, f"{tmbus.library_path()} lacks {absent}"
    assert tmbus.version() == "{TMBUS_VERSION_MAJOR}.{TMBUS_VERSION_MINOR}.{TMBUS_VERSION_PATCH}" \
        .format(**defines())


def test_structs_match_header():
    declared = structs()
    for name, py in _lib.STRUCTS.items():
        assert name in declared, f"{name} is not a struct of tmbus.h"
        fields = [(fname, expected_ctype(ftype, is_field=True)) for fname, ftype in declared[name]]
        have = [(fname, ftype) for fname, ftype in py._fields_]
        assert [f for f, _ in have] == [f for f, _ in fields], f"struct {name}'s fields"
        for (fname, want), (_, got) in zip(fields, have):
            if isinstance(want, type) and issubclass(want, ctypes.Array):
                assert issubclass(got, ctypes.Array) and got._type_ is want._type_ \
                    and got._length_ == want._length_, f"{name}.{fname}"
            else:
                assert got is want, f"{name}.{fname} is {want}, declared {got}"
    # Every plain struct a caller fills in or reads is here.
    public = set(declared) - OPAQUE - set(UNMIRRORED)
    assert public == set(_lib.STRUCTS), f"structs not mirrored: {public - set(_lib.STRUCTS)}"


ENUMS = {
    "tmbus_tlp": tmbus.Tlp, "tmbus_sector": tmbus.Sector, "tmbus_category": tmbus.Category,
    "tmbus_priority": tmbus.Priority, "tmbus_need_status": tmbus.NeedStatus,
    "tmbus_offer_status": tmbus.OfferStatus, "tmbus_need_action": tmbus.NeedAction,
    "tmbus_offer_action": tmbus.OfferAction, "tmbus_receipt_state": tmbus.ReceiptState,
}
NAME_FUNCTIONS = {"tmbus_tlp": "tmbus_tlp_name", "tmbus_sector": "tmbus_sector_name",
                  "tmbus_category": "tmbus_category_name", "tmbus_priority": "tmbus_priority_name",
                  "tmbus_need_status": "tmbus_need_status_name",
                  "tmbus_offer_status": "tmbus_offer_status_name",
                  "tmbus_need_action": "tmbus_need_action_name",
                  "tmbus_offer_action": "tmbus_offer_action_name",
                  "tmbus_receipt_state": "tmbus_receipt_state_name"}


def test_enums_match_header_and_library():
    declared = enums()
    lib = _lib.load()
    for cname, cls in ENUMS.items():
        values = declared[cname]
        prefix = os.path.commonprefix(list(values))
        prefix = prefix[: prefix.rfind("_") + 1]
        assert {k[len(prefix):]: v for k, v in values.items()} == \
            {m.name: m.value for m in cls}, cname
        for m in cls:
            assert _lib.text(getattr(lib, NAME_FUNCTIONS[cname])(m.value)) == m.label, m
            assert cls.parse(m.label.upper()) is m
    for cname in ("tmbus_board_list", "tmbus_report_by"):
        assert cname in declared
    assert declared["tmbus_board_list"] == {"TMBUS_BOARD_NEEDS": client_mod._LIST_NEEDS,
                                            "TMBUS_BOARD_OFFERS": client_mod._LIST_OFFERS}
    assert declared["tmbus_report_by"] == {
        "TMBUS_REPORT_BY_DONOR": client_mod._REPORT_BY_DONOR,
        "TMBUS_REPORT_BY_CATEGORY": client_mod._REPORT_BY_CATEGORY,
        "TMBUS_REPORT_BY_SECTOR": client_mod._REPORT_BY_SECTOR}
    codes = {k: v for k, v in declared["tmbus_error"].items() if k != "TMBUS_OK"}
    assert {cls.name: cls.code for cls in errors._BY_CODE.values()} == codes
    for code in codes.values():
        assert issubclass(errors.error_class(code), tmbus.Error)
        assert tmbus.strerror(code)


def test_limits_match_header():
    d = defines()
    assert d["TMBUS_KEY_BYTES"] == _lib.KEY_BYTES
    assert d["TMBUS_ID_BYTES"] == _lib.ID_BYTES
    assert d["TMBUS_ID_HEX_BYTES"] == _lib.ID_HEX_BYTES
    assert d["TMBUS_VALIDATE_ERROR_MAX"] <= _lib.ERROR_MAX
    assert d["TMBUS_BOARD_CURSOR_BYTES"] == _lib.BOARD_CURSOR_BYTES
    assert d["TMBUS_POST_WINDOW_MAX"] == client_mod.POST_WINDOW_MAX
    assert d["TMBUS_WINDOW_MAX"] == client_mod.WINDOW_MAX
    assert d["TMBUS_BOARD_PAGE_MAX"] == client_mod.BOARD_PAGE_MAX
    assert d["TMBUS_POST_NOWAIT"] == client_mod._POST_NOWAIT
    assert tmbus.KINDS == tuple(_lib.text(_lib.load().tmbus_kind_names()).split(", "))


def test_validation_without_a_node():
    need = tmbus.Need(title="Firewalls", category="hardware", sector="energy", quantity=5,
                      priority="high", tlp="TLP:AMBER")
    need.validate()
    with pytest.raises(tmbus.InvalidArgument) as e:
        tmbus.Need(title="two\nlines", category="hardware", sector="energy", quantity=5,
                   priority="high", tlp="amber").validate()
    assert e.value.code == -3 and "title" in e.value.reason
    assert isinstance(e.value, ValueError)
    with pytest.raises(tmbus.InvalidArgument, match="one of clear, green"):
        tmbus.Need(tlp="purple")
    tmbus.Offer(quantity=2, tlp="green").validate()
    with pytest.raises(tmbus.InvalidArgument):
        tmbus.Offer(quantity=0, tlp="green").validate()
