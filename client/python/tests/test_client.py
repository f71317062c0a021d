"""The binding against real nodes: a federation of UA (beneficiary) and EE
(donor) from deploy/federation. Each test makes its own needs (titles
carry a per-test tag) so that tests share the federation without reading
each other's messages.
"""

from __future__ import annotations

import selectors
import sys
import time
import uuid
from pathlib import Path

import pytest

import tmbus
from conftest import PACKAGE_DIR, build_dir, child_env, run


def tag() -> str:
    return uuid.uuid4().hex[:8]


def need(title: str, **kw) -> tmbus.Need:
    fields = dict(title=title, category="hardware", sector="energy", quantity=10,
                  priority="high", tlp="amber", unit="devices", value_cents=1_000_000)
    fields.update(kw)
    return tmbus.Need(**fields)


def wait_for(client: tmbus.Client, predicate, what: str, seconds: float = 30):
    """The first delivery of the current subscription that satisfies
    predicate, acking everything up to it; fails after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        d = client.next_delivery(timeout=1)
        if d is None:
            continue
        d.ack()
        if predicate(d):
            return d
    pytest.fail(f"no {what} within {seconds} s")


def wait_board(client: tmbus.Client, predicate, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"the board never showed {what} within {seconds} s")


def test_status(ua):
    st = ua.status()
    assert st.member == "UA"
    assert st.roster_version == 1
    assert st.version == tmbus.version()
    assert [p.member for p in st.peers] == ["EE"]
    assert all(isinstance(v, int) for v in st.counters.values()) and st.counters
    assert st.board_digest is None or len(st.board_digest) == 64


def test_roster_history_and_refused_publish(ua):
    history = ua.roster_history()
    assert [e.version for e in history] == [1]
    assert len(history[0].hash) == 64 and history[0].size > 0 and history[0].trusted_at > 0
    # The federation's client is an admin: the node judges the bytes and
    # refuses them with its reason; nothing changes.
    with pytest.raises(tmbus.InvalidArgument) as e:
        ua.roster_publish(b"not a signed roster")
    assert "refused" in e.value.reason
    assert ua.roster_history() == history
    assert ua.status().roster_version == 1


def test_post_receive_ack_and_typed_deliveries(ua, ee):
    t = tag()
    # Typed delivery of a need, through a filter on kind and sender.
    ee.subscribe(tmbus.Filter(kinds=["need", "need-update", "offer_update"], senders=["UA"]))
    need_id = ua.post_need(need(f"Firewalls {t}", deadline="2031-03-31", contact="desk@ua"))
    assert len(need_id) == 64
    d = wait_for(ee, lambda d: d.id == need_id, "the need at EE")
    assert isinstance(d, tmbus.NeedDelivery) and d.kind == "need"
    assert d.sender == "UA" and set(d.recipients) == {"UA", "EE"} and d.number > 0
    assert d.need.title == f"Firewalls {t}" and d.need.category is tmbus.Category.HARDWARE
    assert d.need.deadline == "2031-03-31" and d.need.contact == "desk@ua"
    assert d.need.tlp is tmbus.Tlp.AMBER and d.need.quantity == 10
    with d:
        assert any(d.payload)
    assert not any(d.payload), "leaving the with block wipes the payload"

    # An edit arrives as a typed need update.
    ua.edit_need(need_id, quantity=12, reason="two more substations")
    d = wait_for(ee, lambda d: isinstance(d, tmbus.NeedUpdateDelivery)
                 and d.change.need_id == need_id, "the edit at EE")
    assert d.change.action is tmbus.NeedAction.EDIT
    assert d.change.edit.quantity == 12 and d.change.reason == "two more substations"

    # The offer's life: EE offers, UA accepts, EE delivers, UA confirms.
    ua.subscribe(tmbus.Filter(kinds=["offer", "offer_update"], senders=["EE"]))
    offer_id = ee.post_offer(need_id=need_id, quantity=12, tlp="amber", value_cents=600_000,
                             description=f"Twelve appliances {t}", delivery_date="2031-02-01",
                             to=["UA"])
    d = wait_for(ua, lambda d: d.id == offer_id, "the offer at UA")
    assert isinstance(d, tmbus.OfferDelivery)
    assert d.offer.need_id == need_id and d.offer.delivery_date == "2031-02-01"
    ua.accept_offer(offer_id, reason="thank you", to=["EE"])
    d = wait_for(ee, lambda d: isinstance(d, tmbus.OfferUpdateDelivery)
                 and d.change.offer_id == offer_id, "the acceptance at EE")
    assert d.change.action is tmbus.OfferAction.ACCEPT and d.change.reason == "thank you"
    ee.deliver_offer(offer_id, to=["UA"])
    d = wait_for(ua, lambda d: isinstance(d, tmbus.OfferUpdateDelivery)
                 and d.change.offer_id == offer_id, "the delivery mark at UA")
    assert d.change.action is tmbus.OfferAction.DELIVER
    ua.confirm_offer(offer_id, to=["EE"])

    def confirmed():
        offers = list(ua.offers(need_id=need_id))
        return offers if offers and offers[0].status is tmbus.OfferStatus.CONFIRMED else None

    offers = wait_board(ua, confirmed, "the offer confirmed")
    assert offers[0].id == offer_id and offers[0].donor == "EE"
    (bn,) = ua.board("needs", need_id=need_id).needs
    assert bn.status is tmbus.NeedStatus.COVERED
    assert bn.accepted_quantity == 12 and bn.delivered_quantity == 12
    assert bn.need.quantity == 12
    # Both authors are members of the roster in force: nothing is marked.
    assert not bn.is_author_revoked and not offers[0].is_author_revoked

    # Receipts: EE's node said it received the need.
    def delivered():
        states = ua.delivery_state(need_id)
        return states if any(s.member == "EE" and s.state == "delivered" for s in states) \
            else None

    states = wait_board(ua, delivered, "EE's receipt")
    assert {s.member for s in states} == {"UA", "EE"}

    ua.close_need(need_id, reason="covered")
    wait_board(ua, lambda: ua.board("needs", need_id=need_id).needs[0].status
               is tmbus.NeedStatus.CLOSED, "the need closed")


def test_receipts_come_as_typed_deliveries(ua, ee):
    t = tag()
    ua.subscribe(tmbus.Filter(kinds=["receipt"]))
    need_id = ua.post_need(need(f"Receipt probe {t}"), to=["EE"])
    d = wait_for(ua, lambda d: isinstance(d, tmbus.ReceiptDelivery)
                 and any(r.envelope_id == need_id for r in d.receipts), "EE's receipt")
    (r,) = [r for r in d.receipts if r.envelope_id == need_id]
    assert r.state is tmbus.ReceiptState.DELIVERED and d.sender == "EE"


def test_board_pages_and_filters(ua, ee):
    t = tag()
    ids = [ua.post_need(need(f"Paging {t} {i}", priority="low" if i % 2 else "critical",
                             category="training"))
           for i in range(7)]
    # Pages of 2 in id order, each one's cursor leading to the next.
    mine = [n for n in ua.needs(members=["UA"], categories=["training"]) if t in n.need.title]
    assert sorted(n.id for n in mine) == sorted(ids)
    pages = list(ua.pages("needs", limit=2, categories=["training"], members=["UA"]))
    assert all(len(p.needs) <= 2 and not p.offers for p in pages)
    assert all(p.next for p in pages[:-1]) and pages[-1].next is None
    seen = [n.id for p in pages for n in p.needs]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(ids) <= set(seen)
    # One page at a time with after=.
    first = ua.board("needs", limit=3, categories=["training"])
    second = ua.board("needs", limit=3, categories=["training"], after=first.next)
    assert first.needs[-1].id < second.needs[0].id
    # Filters: priority, status, id prefix, updated_since, need_id.
    crit = [n for n in ua.needs(priorities=["critical"], categories=["training"])
            if t in n.need.title]
    assert len(crit) == 4 and all(n.need.priority is tmbus.Priority.CRITICAL for n in crit)
    one = ua.board("needs", id_prefix=ids[3][:16])
    assert [n.id for n in one.needs] == [ids[3]]
    assert ua.board("needs", need_id=ids[5]).needs[0].need.title == f"Paging {t} 5"
    assert not ua.board("needs", statuses=["closed"], id_prefix=ids[0]).needs
    future = int(time.time()) + 3600
    assert not ua.board("needs", updated_since=future).needs
    snap = ua.snapshot(need_id=ids[0])
    assert [n.id for n in snap.needs] == [ids[0]] and snap.offers == ()
    assert ids[1] in {n.id for n in ua.snapshot(need_status="open").needs}
    with pytest.raises(tmbus.InvalidArgument):
        ua.board("needs", after="not-a-cursor")
    with pytest.raises(tmbus.InvalidArgument):
        ua.board("maybe")
    with pytest.raises(tmbus.NotFound):
        ua.snapshot(need_id="ab" * 32)


def test_report(ua):
    ua.post_need(need(f"Report {tag()}", category="advisory", value_cents=123_400))
    r = ua.report()
    assert r.need_total >= 1 and r.needs
    assert r.overall.key == "total"
    assert all(isinstance(n.status, tmbus.NeedStatus) for n in r.needs)


def test_pipelined_posts(ua, ee):
    t = tag()
    items = [need(f"Pipelined {t} {i}", category="connectivity") for i in range(40)]
    items.insert(10, dict(title=f"bad {t}", category="connectivity"))  # no sector...
    outcomes = list(ua.post_needs(items, window=8))
    assert len(outcomes) == 41
    bad = [p for p in outcomes if not p.ok]
    assert len(bad) == 1 and bad[0].code == tmbus.InvalidArgument.code
    assert "sector" in bad[0].reason
    with pytest.raises(tmbus.InvalidArgument):
        bad[0].raise_for_error()
    good = [p for p in outcomes if p.ok]
    assert len({p.ticket for p in good}) == 40 and all(len(p.id) == 64 for p in good)
    assert {p.item.title for p in good} == {n.title for n in items if isinstance(n, tmbus.Need)}
    on_board = {n.id for n in ua.needs(categories=["connectivity"]) if t in n.need.title}
    assert on_board == {p.id for p in good}

    # The lower level: tickets, posted(), flush(), and the file descriptor.
    assert ua.posts_in_flight == 0 and ua.posted(0) is None
    tickets = [ua.send_need(need(f"Ticket {t} {i}")) for i in range(3)]
    ua.flush()
    sel = selectors.DefaultSelector()
    sel.register(ua.fileno(), selectors.EVENT_READ)
    sel.close()
    got = []
    while (p := ua.posted(0)) is not None:
        got.append(p.ticket)
    assert sorted(got) == tickets


def test_errors_carry_code_and_reason(federation, ua, tmp_path):
    with pytest.raises(tmbus.NotFound) as e:
        ua.delivery_state("00" * 32)
    assert e.value.code == -7 and e.value.reason and isinstance(e.value, LookupError)
    assert str(e.value).startswith("TMBUS_ENOTFOUND: ")
    with pytest.raises(tmbus.InvalidArgument, match="need_id"):
        ua.close_need("xyz")
    with pytest.raises(tmbus.InvalidArgument, match="title"):
        ua.post_need(need(""))
    with pytest.raises(tmbus.InvalidArgument):
        ua.post_need(need("x"), to=[])
    # The owner's actions only: EE may not close UA's need.
    need_id = ua.post_need(need(f"Not yours {tag()}"))
    with federation.client("EE") as ee2:
        wait_board(ee2, lambda: ee2.board("needs", need_id=need_id).needs, "the need at EE")
        with pytest.raises(tmbus.Denied, match="owner") as e:
            ee2.close_need(need_id)
        assert e.value.code == -2 and isinstance(e.value, PermissionError)

    # A key the node does not list: Denied, with the library's reason.
    run([build_dir() / "deploy" / "tmbus-admin", "keygen", "client", "stranger", tmp_path])
    ua_conf = Path(federation.config("UA")).read_text()
    endpoint = [ln.split("=", 1)[1].strip() for ln in ua_conf.splitlines()
                if ln.startswith("endpoint")][0]
    conf = tmp_path / "stranger.conf"
    conf.write_text(f"[client]\nendpoint = {endpoint}\n"
                    f"node_key = {federation.path / 'keys' / 'UA.pub'}\n"
                    f"key = {tmp_path / 'stranger.key'}\n")
    with pytest.raises(tmbus.Denied) as e:
        tmbus.Client.from_config(str(conf), connect_timeout=5)
    assert e.value.reason
    with pytest.raises(tmbus.NotFound) as e:
        tmbus.Client.from_config(str(tmp_path / "missing.conf"))
    assert "missing.conf" in e.value.reason


def test_context_manager_closes(federation):
    with federation.client("UA") as c:
        assert c.status().member == "UA"
    assert c.closed
    with pytest.raises(tmbus.Closed):
        c.status()
    c.close()  # twice is harmless


def test_subscription_iterator_stops_when_idle(federation):
    with federation.client("EE") as c:
        sub = c.subscribe(tmbus.Filter(senders=["NOBODY"]), idle_timeout=0.3)
        start = time.monotonic()
        assert list(sub) == []
        assert time.monotonic() - start < 10


def test_feed_example(federation, ua, tmp_path):
    """examples/feed.py posts a JSON-lines file and a CSV file."""
    t = tag()
    example = PACKAGE_DIR / "examples" / "feed.py"
    jsonl = tmp_path / "needs.jsonl"
    jsonl.write_text("".join(
        '{"type":"need","title":"Feed %s %d","category":"training","sector":"water",'
        '"quantity":%d,"unit":"person-days","value_eur":"1800.50","priority":"medium",'
        '"tlp":"green","to":"all"}\n' % (t, i, i + 1) for i in range(25)))
    env = child_env(python=True)
    env["PYTHONPATH"] = str(PACKAGE_DIR)
    proc = run([sys.executable, example, "-c", federation.config("UA"), jsonl],
               env=env, timeout=120)
    assert "25 posted, 0 failed" in proc.stderr, proc.stderr
    assert "\r" not in proc.stderr, "a progress bar drawn on a pipe"
    posted = [n for n in ua.needs(categories=["training"]) if f"Feed {t}" in n.need.title]
    assert len(posted) == 25 and {n.need.value_cents for n in posted} == {180050}

    csv = tmp_path / "needs.csv"
    csv.write_text("title,category,sector,quantity,priority,tlp,value_eur,deadline\n"
                   f"CSV {t} a,hardware,telecom,3,low,amber,10,2031-01-01\n"
                   f"CSV {t} b,hardware,nowhere,3,low,amber,10,\n")
    proc = run([sys.executable, example, "-c", federation.config("UA"), csv],
               env=env, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "1 posted, 1 failed" in proc.stderr and "needs.csv:3: sector" in proc.stderr, proc.stderr
