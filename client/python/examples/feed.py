#!/usr/bin/env python3
"""feed.py: a partner feed. Reads needs from a JSON-lines file (the format of
`tmbus import`, deploy/examples/feed.jsonl; lines of another type are
refused) or a CSV file with the same column names, and posts them through
the member's own node with many posts in flight at once.

    python3 feed.py -c /tmp/fed/UA/client.conf needs.jsonl
    python3 feed.py -c client.conf --window 128 needs.csv

Each posted need prints "LINE<TAB>ID" on stdout; every refusal prints
"FILE:LINE: reason" on stderr, and the feed goes on past it. A progress bar
is drawn on stderr when it is a terminal and the file holds many needs.
Exit status: 0 when every need was posted, 1 when any was refused, 2 for a
bad command line or an unreadable file. Only the standard library and the
tmbus package are used.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from decimal import Decimal, InvalidOperation
from typing import Dict, Iterator, List, Optional, Tuple, Union

import tmbus

# The columns a need may carry, as `tmbus import` names them.
FIELDS = ("title", "category", "sector", "quantity", "unit", "value_eur", "priority", "tlp",
          "deadline", "beneficiary", "description", "contact", "to")
MANY = 20  # from this many needs on, a terminal gets a progress bar

Line = Tuple[int, Union[Tuple[tmbus.Need, Optional[List[str]]], str]]


def cents(value: object) -> int:
    """EUR as a decimal string (or a number) to integer cents, exactly."""
    try:
        eur = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"value_eur {value!r} is not a decimal amount") from None
    c = eur * 100
    if c != c.to_integral_value() or c < 0:
        raise ValueError(f"value_eur {value!r} is not a positive amount in whole cents")
    return int(c)


def need_from(row: Dict[str, object]) -> Tuple[tmbus.Need, Optional[List[str]]]:
    """A Need and its recipients (None: every member) from one record."""
    if row.get("type", "need") != "need":
        raise ValueError(f"type {row.get('type')!r}: this feed posts needs only")
    unknown = set(row) - set(FIELDS) - {"type"}
    if unknown:
        raise ValueError(f"unknown field {', '.join(sorted(unknown))}")
    to = row.get("to") or "all"
    if to == "all":
        recipients = None
    elif isinstance(to, list):
        recipients = [str(m) for m in to]
    else:  # CSV: members separated by spaces or semicolons
        recipients = str(to).replace(";", " ").split()
    quantity = row.get("quantity")
    try:
        quantity = int(str(quantity))
    except ValueError:
        raise ValueError(f"quantity {quantity!r} is not a whole number") from None
    need = tmbus.Need(
        title=str(row.get("title") or ""),
        category=row.get("category") or None,
        sector=row.get("sector") or None,
        quantity=quantity,
        priority=row.get("priority") or None,
        tlp=row.get("tlp") or None,
        unit=str(row.get("unit") or ""),
        value_cents=cents(row["value_eur"]) if row.get("value_eur") not in (None, "") else 0,
        beneficiary=str(row.get("beneficiary") or ""),
        description=str(row.get("description") or ""),
        deadline=str(row.get("deadline") or "") or None,
        contact=str(row.get("contact") or ""),
    )
    need.validate()  # the library's own checks, before anything is sent
    return need, recipients


def records(path: str, fmt: str) -> Iterator[Tuple[int, Dict[str, object]]]:
    """(line number, record) for each need of the file."""
    with open(path, newline="", encoding="utf-8") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if v is not None}
            return
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield number, {"__error__": f"not JSON: {e.msg}"}
                continue
            yield number, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}


def read(path: str, fmt: str) -> List[Line]:
    """Every line as (number, (need, recipients)) or (number, reason)."""
    lines: List[Line] = []
    for number, row in records(path, fmt):
        if "__error__" in row:
            lines.append((number, str(row["__error__"])))
            continue
        try:
            lines.append((number, need_from(row)))
        except (ValueError, tmbus.InvalidArgument) as e:
            lines.append((number, getattr(e, "reason", None) or str(e)))
    return lines


class Progress:
    """A one-line bar on stderr, redrawn at most ten times a second; silent
    unless stderr is a terminal and there are many needs."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = total >= MANY and sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.shown and (now - self.drawn >= 0.1 or self.done == self.total):
            self.drawn = now
            width = 30
            filled = width * self.done // max(self.total, 1)
            rate = self.done / max(now - self.started, 1e-6)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.done}/{self.total} {100 * self.done // max(self.total, 1)}% "
                             f"{rate:.0f}/s ")
            sys.stderr.flush()

    def note(self, text: str) -> None:
        """A message line, keeping the bar below it."""
        if self.shown:
            sys.stderr.write("\r\033[K")
        print(text, file=sys.stderr)
        self.drawn = 0.0

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Post a file of needs through tmbus, pipelined.")
    ap.add_argument("-c", "--config", required=True, help="the client configuration (client.conf)")
    ap.add_argument("file", help="needs as JSON lines (.jsonl) or CSV (.csv)")
    ap.add_argument("--format", choices=("jsonl", "csv"),
                    help="the file's format (default: from its extension)")
    ap.add_argument("--window", type=int, default=64, help="posts in flight at once (1..1024)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each post")
    args = ap.parse_args(argv)
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "jsonl")

    try:
        lines = read(args.file, fmt)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        print(f"feed: {args.file}: {e}", file=sys.stderr)
        return 2
    progress = Progress(len(lines))
    posted = failed = 0
    try:
        with tmbus.Client.from_config(args.config, timeout=args.timeout) as client:
            client.post_window = args.window
            line_of: Dict[int, int] = {}

            def report(p: tmbus.Posted) -> None:
                nonlocal posted, failed
                number = line_of.pop(p.ticket)
                if p.ok:
                    posted += 1
                    print(f"{number}\t{p.id}")
                else:
                    failed += 1
                    progress.note(f"{args.file}:{number}: {p.reason or tmbus.strerror(p.code)}")
                progress.step()

            for number, item in lines:
                if isinstance(item, str):
                    failed += 1
                    progress.note(f"{args.file}:{number}: {item}")
                    progress.step()
                    continue
                need, recipients = item
                # Waits only while the window is full; outcomes are taken
                # as they come, so the window keeps moving.
                line_of[client.send_need(need, to=recipients)] = number
                while (p := client.posted(0)) is not None:
                    report(p)
            while line_of:
                p = client.posted(args.timeout)
                if p is None:
                    break
                report(p)
            for number in sorted(line_of.values()):
                failed += 1
                progress.note(f"{args.file}:{number}: no outcome within {args.timeout} s")
    except tmbus.Error as e:
        progress.finish()
        print(f"feed: {e}", file=sys.stderr)
        return 1
    progress.finish()
    print(f"feed: {posted} posted, {failed} failed", file=sys.stderr)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
