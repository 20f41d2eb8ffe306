"""Generate ``policies/grocery/corpus.jsonl.gz``: labelled cases for the grocery-delivery policy.

    python scripts/gen_grocery_corpus.py            # writes the corpus (deterministic: fixed seed)
    python scripts/gen_grocery_corpus.py --check    # exit 1 if the file differs from what it would write

Each case is a random, self-consistent situation of a grocery shop (a catalog of each- and per-kg
items, users with payment methods, stores with delivery windows, slots, orders) and a proposal of
the agent that is right (a safe variant) or wrong in exactly one way the generator applies (a
mutation). The label comes from the mutation alone: ``violates`` names what the mutation breaks,
``expect`` is the shop's reaction to it (ask the user, or stop). Nothing here imports txguard or
reads the policy: the prices, rounding and fee schedule below are the shop's own rules, written
down a second time on purpose.

Size: one generator for four intent kinds and their ~50 mutations; split, each part would need
the others' world and amount helpers.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Callable

SEED = 20260601
OUT = Path(__file__).resolve().parent.parent / "policies" / "grocery" / "corpus.jsonl.gz"
CENT = Decimal("0.01")
# The shop's published rules (the policy's tables say the same; this is the second, independent copy).
FEE = {"offpeak": {"standard": "2.99", "plus": "0"}, "standard": {"standard": "4.99", "plus": "0"},
       "peak": {"standard": "7.99", "plus": "2.99"}}
FREE_FROM = {"standard": Decimal("60"), "plus": Decimal("40")}
CAP, MINIMUM, SUB_FACTOR, LEAD = Decimal("350"), Decimal("20"), Decimal("1.10"), timedelta(hours=2)
ASK = {"consent", "budget", "quantity", "not_requested", "substitution_consent", "substitution_unneeded",
       "substitution_category", "substitution_price", "availability", "item_limit", "minimum_order",
       "slot_unavailable", "slot_full", "authentication"}
"""What the shop asks the user about; everything else stops the action (escalate)."""

# category, pricing, (name, low price, high price) ...
FAMILIES = [
    ("dairy", "each", [("Whole milk 1 l", 0.9, 1.6), ("Oat drink 1 l", 1.2, 2.2), ("Greek yogurt 500 g", 1.8, 3.2),
                       ("Skyr 450 g", 2.0, 3.4), ("Butter 250 g", 2.1, 3.6)]),
    ("bakery", "each", [("Sourdough loaf", 2.5, 4.5), ("Baguette", 0.9, 1.8), ("Rye bread", 2.2, 3.9)]),
    ("coffee", "each", [("Coffee beans 500 g", 7.5, 12.5), ("Ground coffee 250 g", 3.5, 6.5), ("Espresso beans 1 kg", 14, 22)]),
    ("drinks", "each", [("Still water 6 x 1.5 l", 2.5, 4.5), ("Orange juice 1 l", 1.9, 3.9), ("Champagne 75 cl", 28, 45),
                        ("Red wine 75 cl", 6, 19)]),
    ("fruit", "per_kg", [("Bananas", 1.5, 2.5), ("Gala apples", 2.5, 3.9), ("Braeburn apples", 2.6, 4.1), ("Pears", 2.4, 3.8)]),
    ("vegetables", "per_kg", [("Carrots", 0.9, 1.9), ("Tomatoes", 2.5, 4.5), ("Potatoes", 0.9, 1.8)]),
    ("meat", "per_kg", [("Beef mince", 8.5, 13.5), ("Chicken breast", 9, 14), ("Pork chops", 7.5, 11.5)]),
    ("cheese", "per_kg", [("Gouda", 11, 17), ("Comte", 22, 32)]),
]
WEIGHTS = ["0.25", "0.3", "0.45", "0.5", "0.75", "0.8", "1", "1.2", "1.25", "1.5", "2"]
OFFSETS = ["+02:00", "+01:00", "-04:00", "+00:00", "+05:30"]


def money(x: Decimal) -> str:
    return str(x.quantize(CENT))


def iso(dt: datetime) -> str:
    return dt.isoformat()


class World:
    """One shop at one moment: its catalog, users, stores, slots and orders, and its clock."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self.rng = rng
        self.tz = timezone(timedelta(hours=int(OFFSETS[n % 5][:3]), minutes=int(OFFSETS[n % 5][0] + OFFSETS[n % 5][4:])))
        day0 = datetime(2026, 6, 1, tzinfo=self.tz) + timedelta(days=7 * n)
        self.clock = day0 + timedelta(hours=rng.randint(10, 15), minutes=rng.choice([0, 15, 30, 45]))
        self.catalog: dict[str, dict[str, Any]] = {}
        for cat, pricing, products in FAMILIES:
            for i, (name, lo, hi) in enumerate(products):
                sku = f"{cat[:3].upper()}-{n}{i:02d}{rng.randint(10, 99)}"
                rec: dict[str, Any] = {"sku": sku, "name": name, "category": cat, "pricing": pricing,
                                       "price": money(Decimal(str(rng.uniform(lo, hi)))), "in_stock": rng.random() > 0.2}
                if pricing == "each":
                    rec["max_per_order"] = rng.randint(4, 12)
                else:
                    rec["max_kg"] = str(rng.choice([3, 4, 5, 6]))
                self.catalog[sku] = rec
        self.users = {}
        for i in range(4):
            uid = f"user_{n}_{i}"
            methods = {f"{src}_{n}{i}{j}": {"source": src} for j, src in enumerate(rng.sample(["card", "paypal", "voucher"], rng.randint(1, 3)))}
            self.users[uid] = {"user_id": uid, "membership": rng.choice(["standard", "standard", "plus"]), "payment_methods": methods}
        self.stores, self.slots = {}, {}
        for s in ("A", "B"):
            sid = f"ST-{n}{s}"
            windows = [(day0 + timedelta(days=d, hours=8), day0 + timedelta(days=d, hours=22)) for d in range(3)]
            self.stores[sid] = {"store_id": sid, "opening": [{"opens": iso(a), "closes": iso(b)} for a, b in windows]}
            for d in range(3):
                for h in range(8, 22, 2):
                    start = day0 + timedelta(days=d, hours=h)
                    band = "offpeak" if h < 10 else "peak" if 16 <= h < 20 else "standard"
                    cap = rng.choice([10, 20, 30])
                    booked = cap if rng.random() < 0.15 else rng.randint(0, cap - 1)
                    self._slot(f"{sid}-{d}{h:02d}", sid, start, start + timedelta(hours=2), band, cap, booked)
                # A slot the host lists past the store's closing time (a mistake the guard must catch).
                late = day0 + timedelta(days=d, hours=21)
                self._slot(f"{sid}-{d}21L", sid, late, late + timedelta(hours=2), "standard", 10, 0)
        self.orders: dict[str, dict[str, Any]] = {}

    def _slot(self, slot_id: str, store: str, start: datetime, end: datetime, band: str, cap: int, booked: int) -> None:
        self.slots[slot_id] = {"slot_id": slot_id, "store_id": store, "start": iso(start), "end": iso(end), "band": band,
                               "capacity": cap, "booked": booked}

    # -- what the shop knows ---------------------------------------------------------------
    def start(self, slot_id: str) -> datetime:
        return datetime.fromisoformat(self.slots[slot_id]["start"])

    def open_slots(self, store: str, good: bool = True) -> list[str]:
        """Slots of a store a user may book (future, not full, within the windows), or (good=False) the too-soon ones."""
        out = []
        for sid, s in self.slots.items():
            if s["store_id"] != store or sid.endswith("L") or s["booked"] >= s["capacity"]:
                continue
            if (self.start(sid) >= self.clock + LEAD) == good:
                out.append(sid)
        return sorted(out)

    def fee(self, slot_id: str, user: str, subtotal: Decimal) -> Decimal:
        member = self.users[user]["membership"]
        if subtotal >= FREE_FROM[member]:
            return Decimal("0")
        return Decimal(FEE[self.slots[slot_id]["band"]][member])

    def items(self, pricing: str | None = None, in_stock: bool | None = True, category: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.catalog.values() if (pricing is None or p["pricing"] == pricing)
                and (in_stock is None or p["in_stock"] == in_stock) and (category is None or p["category"] == category)]

    def facts(self) -> dict[str, Any]:
        return {"catalog": list(self.catalog.values()), "users": list(self.users.values()), "stores": list(self.stores.values()),
                "slots": list(self.slots.values()), "orders": list(self.orders.values())}


def line_total(price: str, line: dict[str, Any]) -> Decimal:
    """Units x price, or price per kg x weight rounded to the cent, half to even (the shop's rounding)."""
    if "weight_kg" in line:
        return (Decimal(price) * Decimal(line["weight_kg"])).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return Decimal(price) * line["quantity"]


def amount_for(w: World, p: dict[str, Any], big: bool = False) -> dict[str, Any]:
    if p["pricing"] == "per_kg":
        return {"weight_kg": w.rng.choice([x for x in WEIGHTS if Decimal(x) + 1 <= Decimal(p["max_kg"])])}
    return {"quantity": w.rng.randint(1, p["max_per_order"] if big else min(3, p["max_per_order"]))}


def make_line(p: dict[str, Any], amount: dict[str, Any], replaces: str | None = None) -> dict[str, Any]:
    line = {"sku": p["sku"], "name": p["name"], **amount, "unit_price": p["price"]}
    line["line_total"] = money(line_total(p["price"], line))
    if replaces is not None:
        line["replaces"] = replaces
    return line


def tolerance(price: str) -> Decimal:
    return (Decimal(price) * SUB_FACTOR).quantize(CENT, rounding=ROUND_HALF_EVEN)


def candidates(w: World, orig: dict[str, Any], same_category: bool, dear: bool) -> list[dict[str, Any]]:
    """In-stock items of orig's pricing that could replace it: same category or not, within the tolerance or above."""
    out = []
    for p in w.items(orig["pricing"]):
        if p["sku"] == orig["sku"] or (p["category"] == orig["category"]) != same_category:
            continue
        if (Decimal(p["price"]) > tolerance(orig["price"])) == dear:
            out.append(p)
    return out


def totals(w: World, args: dict[str, Any], user: str) -> None:
    """Recompute the subtotal, fee and total of an order's lines (as the shop would)."""
    sub = sum((Decimal(x["line_total"]) for x in args["lines"]), Decimal("0"))
    args["subtotal"], args["delivery_fee"] = money(sub), money(w.fee(args["slot"]["slot_id"], user, sub))
    args["total"] = money(sub + Decimal(args["delivery_fee"]))


def set_slot(w: World, args: dict[str, Any], slot_id: str) -> None:
    s = w.slots[slot_id]
    args["slot"] = {"slot_id": slot_id, "start": s["start"], "end": s["end"]}


class Case:
    def __init__(self, w: World, kind: str, args: dict[str, Any], user: str, request: dict[str, Any] | None = None) -> None:
        self.w, self.kind, self.args, self.user, self.request = w, kind, args, user, request
        self.session: dict[str, Any] = {"authenticated_user_id": user}
        self.confirmed: Any = "same"  # the proposal as finally built, unless a mutation says otherwise

    def envelope(self, cid: str, variant: str, violates: list[str]) -> dict[str, Any]:
        tool = {"place_order": "place_order", "substitute_item": "substitute_item", "change_slot": "change_delivery_slot",
                "cancel_delivery": "cancel_order"}[self.kind]
        proposal = {"name": tool, "arguments": self.args}
        confirmed = [copy.deepcopy(proposal)] if self.confirmed == "same" else [{"name": tool, "arguments": a} for a in self.confirmed]
        expect = "allow" if not violates else "clarify" if set(violates) <= ASK else "escalate"
        out = {"id": cid, "variant": variant, "clock": iso(self.w.clock), "proposal": proposal,
               "session": {**self.session, "confirmed": confirmed}, "facts": self.w.facts(), "expect": expect,
               "violates": sorted(violates)}
        if self.request is not None:
            out["request"] = self.request
        return out


# -- safe situations -------------------------------------------------------------------------

def safe_order(w: World, substitution: bool | None = None) -> Case:
    rng = w.rng
    user = rng.choice(sorted(w.users))
    store = rng.choice(sorted(w.stores))
    slot = rng.choice(w.open_slots(store))
    picked = rng.sample(w.items(), rng.randint(2, 6))
    picked = [p for p in picked if Decimal(p["price"]) < 25] or [min(w.items(), key=lambda p: Decimal(p["price"]))]
    lines = [make_line(p, amount_for(w, p)) for p in picked]
    wanted = [{"sku": x["sku"], **{k: x[k] for k in ("quantity", "weight_kg") if k in x}} for x in lines]
    sub_on = rng.random() < 0.5 if substitution is None else substitution
    if sub_on:
        pairs = [(o, c) for o in w.items(in_stock=False) for c in candidates(w, o, True, False)
                 if o["sku"] not in {x["sku"] for x in lines} and c["sku"] not in {x["sku"] for x in lines}]
        if pairs:
            orig, cand = rng.choice(sorted(pairs, key=lambda t: (t[0]["sku"], t[1]["sku"])))
            amount = amount_for(w, cand)
            if "quantity" in amount:
                amount["quantity"] = min(amount["quantity"], cand["max_per_order"])
            lines.append(make_line(cand, amount, replaces=orig["sku"]))
            wanted.append({"sku": orig["sku"], **amount})
        else:
            sub_on = False
    args: dict[str, Any] = {"user_id": user, "store_id": store, "lines": lines, "slot": {}, "payment_method_id":
                            rng.choice(sorted(w.users[user]["payment_methods"]))}
    set_slot(w, args, slot)
    while True:
        totals(w, args, user)
        if Decimal(args["subtotal"]) >= MINIMUM + 5:
            break
        p = rng.choice([p for p in w.items("each") if p["sku"] not in {x["sku"] for x in args["lines"]}])
        args["lines"].insert(0, make_line(p, {"quantity": 1}))
        wanted.insert(0, {"sku": p["sku"], "quantity": 1})
    request: dict[str, Any] = {}
    if sub_on or rng.random() < 0.8:
        request["items"] = wanted
    if rng.random() < 0.6:
        request["budget"] = money((Decimal(args["total"]) * Decimal("1.4")).quantize(Decimal("1")) + 5)
    if sub_on:
        request["substitutions"] = "same_category"
    elif rng.random() < 0.5:
        request["substitutions"] = rng.choice(["none", "same_category"])
    return Case(w, "place_order", args, user, request)


def order_record(w: World, user: str, status: str = "placed") -> dict[str, Any]:
    oid = f"O-{len(w.orders) + 1:03d}-{w.rng.randint(100, 999)}"
    store = w.rng.choice(sorted(w.stores))
    rec = {"order_id": oid, "user_id": user, "store_id": store, "status": status, "slot_id": w.rng.choice(w.open_slots(store)),
           "subtotal": money(Decimal(w.rng.randint(2500, 9000)) / 100),
           "cancel_by": iso(w.clock + timedelta(hours=w.rng.randint(1, 30))),
           "lines": [{"sku": p["sku"]} for p in w.rng.sample(w.items(in_stock=None), 4)]}
    w.orders[oid] = rec
    return rec


def safe_substitution(w: World) -> Case:
    user = w.rng.choice(sorted(w.users))
    pairs = sorted(((o, c) for o in w.items(in_stock=False) for c in candidates(w, o, True, False)), key=lambda t: (t[0]["sku"], t[1]["sku"]))
    orig, cand = w.rng.choice(pairs)
    rec = order_record(w, user, w.rng.choice(["placed", "picking"]))
    rec["lines"].append({"sku": orig["sku"]})
    sub = make_line(cand, amount_for(w, cand))
    return Case(w, "substitute_item", {"order_id": rec["order_id"], "sku": orig["sku"], "substitute": sub}, user)


def safe_slot_change(w: World) -> Case:
    user = w.rng.choice(sorted(w.users))
    rec = order_record(w, user)
    slot = w.rng.choice([s for s in w.open_slots(rec["store_id"]) if s != rec["slot_id"]])
    args: dict[str, Any] = {"order_id": rec["order_id"], "slot": {}, "delivery_fee": ""}
    set_slot(w, args, slot)
    args["delivery_fee"] = money(w.fee(slot, user, Decimal(rec["subtotal"])))
    return Case(w, "change_slot", args, user)


def safe_cancel(w: World) -> Case:
    user = w.rng.choice(sorted(w.users))
    rec = order_record(w, user)
    return Case(w, "cancel_delivery", {"order_id": rec["order_id"], "reason": w.rng.choice(["changed_mind", "wrong_items", "other"])}, user)


# -- mutations: each changes a safe case in one way and says what that breaks (None: not applicable) --

Mutation = Callable[[Case], "list[str] | None"]


def _plain(c: Case, pricing: str | None = None) -> dict[str, Any] | None:
    """A line that substitutes nothing (of the given pricing), or None."""
    lines = [x for x in c.args["lines"] if "replaces" not in x and (pricing is None or c.w.catalog[x["sku"]]["pricing"] == pricing)]
    return c.w.rng.choice(lines) if lines else None


def _wanted(c: Case, sku: str) -> dict[str, Any] | None:
    for r in (c.request or {}).get("items", []):
        if r["sku"] == sku:
            return r  # type: ignore[no-any-return]
    return None


def _sub_line(c: Case) -> dict[str, Any] | None:
    return next((x for x in c.args["lines"] if "replaces" in x), None)


def m_no_consent(c: Case) -> list[str]:
    c.confirmed = []
    return ["consent"]


def m_price_rose_after_consent(c: Case) -> list[str] | None:
    line = _plain(c)
    if line is None:
        return None
    c.confirmed = [copy.deepcopy(c.args)]
    p = c.w.catalog[line["sku"]]
    p["price"] = money(Decimal(p["price"]) * Decimal("1.08") + CENT)
    line["unit_price"] = p["price"]
    line["line_total"] = money(line_total(p["price"], line))
    totals(c.w, c.args, c.user)
    return ["consent"]


def m_weight_changed_after_consent(c: Case) -> list[str] | None:
    line = _plain(c, "per_kg")
    if line is None:
        return None
    c.confirmed = [copy.deepcopy(c.args)]
    line["weight_kg"] = str(Decimal(line["weight_kg"]) + Decimal("0.25"))
    line["line_total"] = money(line_total(line["unit_price"], line))
    totals(c.w, c.args, c.user)
    return ["consent"] + (["quantity"] if _wanted(c, line["sku"]) else [])


def m_substitute_not_confirmed(c: Case) -> list[str] | None:
    sub = _sub_line(c)
    if sub is None:
        return None
    other = copy.deepcopy(c.args)
    other["lines"] = [x for x in other["lines"] if "replaces" not in x]
    totals(c.w, other, c.user)
    c.confirmed = [other]
    return ["consent"]


def m_substitution_not_allowed(c: Case) -> list[str] | None:
    if _sub_line(c) is None or c.request is None:
        return None
    if c.w.rng.random() < 0.5:
        c.request["substitutions"] = "none"
    else:
        c.request.pop("substitutions", None)
    return ["substitution_consent"]


def _swap_substitute(c: Case, same_category: bool, dear: bool) -> bool:
    sub = _sub_line(c)
    if sub is None:
        return False
    orig = c.w.catalog[sub["replaces"]]
    used = {x["sku"] for x in c.args["lines"]}
    pool = [p for p in candidates(c.w, orig, same_category, dear) if p["sku"] not in used]
    amount = {k: sub[k] for k in ("quantity", "weight_kg") if k in sub}
    pool = [p for p in pool if "quantity" not in amount or amount["quantity"] <= p["max_per_order"]]
    if not pool:
        return False
    p = c.w.rng.choice(pool)
    sub.clear()
    sub.update(make_line(p, amount, replaces=orig["sku"]))
    totals(c.w, c.args, c.user)
    c.request = {k: v for k, v in (c.request or {}).items() if k != "budget"}
    return True


def m_substitute_other_category(c: Case) -> list[str] | None:
    return ["substitution_category"] if _swap_substitute(c, False, False) else None


def m_substitute_too_dear(c: Case) -> list[str] | None:
    return ["substitution_price"] if _swap_substitute(c, True, True) else None


def m_substitute_unneeded(c: Case) -> list[str] | None:
    sub = _sub_line(c)
    if sub is None:
        return None
    c.w.catalog[sub["replaces"]]["in_stock"] = True
    return ["substitution_unneeded"]


def m_weight_total_stale(c: Case) -> list[str] | None:
    line = _plain(c, "per_kg")
    if line is None:
        return None
    line["weight_kg"] = str(Decimal(line["weight_kg"]) + Decimal("0.5"))
    return ["total_mismatch"] + (["quantity"] if _wanted(c, line["sku"]) else [])


def m_line_total_off(c: Case) -> list[str]:
    line = c.w.rng.choice(c.args["lines"])
    line["line_total"] = money(Decimal(line["line_total"]) + CENT * c.w.rng.choice([1, -1, 10]))
    totals(c.w, c.args, c.user)
    return ["total_mismatch"]


def m_subtotal_off(c: Case) -> list[str]:
    c.args["subtotal"] = money(Decimal(c.args["subtotal"]) - Decimal(c.w.rng.choice(["0.01", "1.00", "5.00"])))
    c.args["total"] = money(Decimal(c.args["subtotal"]) + Decimal(c.args["delivery_fee"]))
    return ["total_mismatch"]


def m_total_off(c: Case) -> list[str]:
    c.args["total"] = money(Decimal(c.args["total"]) - Decimal(c.w.rng.choice(["0.01", "2.00", "4.99"])))
    return ["total_mismatch"]


def m_invented_price(c: Case) -> list[str] | None:
    line = _plain(c)
    if line is None:
        return None
    line["unit_price"] = money(Decimal(line["unit_price"]) * Decimal("0.9"))
    line["line_total"] = money(line_total(line["unit_price"], line))
    totals(c.w, c.args, c.user)
    return ["catalog_mismatch"]


def m_fee_inflated(c: Case) -> list[str]:
    c.args["delivery_fee"] = money(Decimal(c.args["delivery_fee"]) + Decimal(c.w.rng.choice(["0.50", "1.00", "3.00"])))
    c.args["total"] = money(Decimal(c.args["subtotal"]) + Decimal(c.args["delivery_fee"]))
    return ["fee_mismatch"]


def m_over_cap(c: Case) -> list[str] | None:
    dear = sorted((p for p in c.w.items("each") if Decimal(p["price"]) >= 14), key=lambda p: p["sku"])
    c.args["lines"] = []
    while sum((Decimal(x["line_total"]) for x in c.args["lines"]), Decimal("0")) <= CAP or not c.args["lines"]:
        p = dear[len(c.args["lines"]) % len(dear)]
        if any(x["sku"] == p["sku"] for x in c.args["lines"]):
            break
        c.args["lines"].append(make_line(p, {"quantity": p["max_per_order"]}))
    totals(c.w, c.args, c.user)
    if Decimal(c.args["total"]) <= CAP:
        return None
    c.request = {}
    return ["order_cap"]


def m_over_budget(c: Case) -> list[str]:
    c.request = dict(c.request or {}, budget=money(Decimal(c.args["total"]) - Decimal(c.w.rng.choice(["0.01", "1.00", "9.99"]))))
    return ["budget"]


def m_item_over_limit(c: Case) -> list[str] | None:
    line = _plain(c, "each")
    if line is None:
        return None
    line["quantity"] = c.w.catalog[line["sku"]]["max_per_order"] + 1
    line["line_total"] = money(line_total(line["unit_price"], line))
    totals(c.w, c.args, c.user)
    wanted = _wanted(c, line["sku"])
    if wanted is not None:
        wanted["quantity"] = line["quantity"]
    if c.request is not None:
        c.request.pop("budget", None)
    return ["item_limit"] + (["order_cap"] if Decimal(c.args["total"]) > CAP else [])


def m_weight_over_limit(c: Case) -> list[str] | None:
    line = _plain(c, "per_kg")
    if line is None:
        return None
    line["weight_kg"] = str(Decimal(c.w.catalog[line["sku"]]["max_kg"]) + Decimal("0.5"))
    line["line_total"] = money(line_total(line["unit_price"], line))
    totals(c.w, c.args, c.user)
    wanted = _wanted(c, line["sku"])
    if wanted is not None:
        wanted["weight_kg"] = line["weight_kg"]
    if c.request is not None:
        c.request.pop("budget", None)
    return ["item_limit"] + (["order_cap"] if Decimal(c.args["total"]) > CAP else [])


def m_unknown_item(c: Case) -> list[str] | None:
    line = _plain(c)
    if line is None:
        return None
    line["sku"] = f"GHOST-{c.w.rng.randint(1000, 9999)}"
    return ["unknown_item"]


def m_weighed_item_counted(c: Case) -> list[str] | None:
    line = _plain(c, "per_kg")
    if line is None:
        return None
    line["quantity"] = 1
    return ["line_shape"]


def m_out_of_stock(c: Case) -> list[str] | None:
    line = _plain(c)
    if line is None:
        return None
    c.w.catalog[line["sku"]]["in_stock"] = False
    return ["availability"]


def m_not_requested(c: Case) -> list[str] | None:
    line = _plain(c)
    if line is None or _wanted(c, line["sku"]) is None or c.request is None:
        return None
    c.request["items"] = [r for r in c.request["items"] if r["sku"] != line["sku"]]
    return ["not_requested"]


def m_other_quantity_asked(c: Case) -> list[str] | None:
    line = _plain(c, "each")
    wanted = _wanted(c, line["sku"]) if line is not None else None
    if wanted is None:
        return None
    wanted["quantity"] += 1
    return ["quantity"]


def m_below_minimum(c: Case) -> list[str]:
    p = min(c.w.items("each"), key=lambda p: (Decimal(p["price"]), p["sku"]))
    c.args["lines"] = [make_line(p, {"quantity": 1})]
    totals(c.w, c.args, c.user)
    c.request = {"items": [{"sku": p["sku"], "quantity": 1}]}
    return ["minimum_order"]


def m_other_users_method(c: Case) -> list[str]:
    other = c.w.rng.choice([u for u in sorted(c.w.users) if u != c.user])
    c.args["payment_method_id"] = sorted(c.w.users[other]["payment_methods"])[0]
    return ["payment_method"]


def m_order_for_other_user(c: Case) -> list[str]:
    c.args["user_id"] = c.w.rng.choice([u for u in sorted(c.w.users) if u != c.user])
    return ["ownership"]


def m_anonymous(c: Case) -> list[str]:
    c.session = {}
    return ["authentication", "ownership"]  # nobody signed in: whatever is acted on is not theirs


# -- slots (an order's, or the new one of a slot change) --

def _to_slot(c: Case, slot_id: str) -> None:
    set_slot(c.w, c.args, slot_id)
    if c.kind == "place_order":
        totals(c.w, c.args, c.user)
    else:
        c.args["delivery_fee"] = money(c.w.fee(slot_id, c.user, Decimal(c.w.orders[c.args["order_id"]]["subtotal"])))
    if c.request is not None:
        c.request.pop("budget", None)


def _store(c: Case) -> str:
    return str(c.args["store_id"] if c.kind == "place_order" else c.w.orders[c.args["order_id"]]["store_id"])


def m_slot_too_soon(c: Case) -> list[str] | None:
    soon = c.w.open_slots(_store(c), good=False)
    if not soon:
        return None
    _to_slot(c, c.w.rng.choice(soon))
    return ["slot_unavailable"]


def m_slot_full(c: Case) -> list[str] | None:
    full = sorted(s for s, r in c.w.slots.items() if r["store_id"] == _store(c) and r["booked"] >= r["capacity"]
                  and c.w.start(s) >= c.w.clock + LEAD and not s.endswith("L"))
    if not full:
        return None
    _to_slot(c, c.w.rng.choice(full))
    return ["slot_full"]


def m_slot_after_hours(c: Case) -> list[str] | None:
    late = sorted(s for s in c.w.slots if s.endswith("L") and c.w.slots[s]["store_id"] == _store(c) and c.w.start(s) >= c.w.clock + LEAD)
    if not late:
        return None
    _to_slot(c, c.w.rng.choice(late))
    return ["slot_hours"]


def m_slot_misstated(c: Case) -> list[str]:
    start = datetime.fromisoformat(c.args["slot"]["start"]) + timedelta(hours=c.w.rng.choice([-1, 1]))
    c.args["slot"]["start"] = iso(start)
    return ["slot_mismatch"]


def m_slot_other_store(c: Case) -> list[str]:
    other = next(s for s in sorted(c.w.stores) if s != _store(c))
    _to_slot(c, c.w.rng.choice(c.w.open_slots(other)))
    return ["slot_mismatch"]


def m_unknown_slot(c: Case) -> list[str]:
    c.args["slot"]["slot_id"] = f"{c.args['slot']['slot_id']}X"
    return ["unknown_slot"]


def m_three_decimals(c: Case) -> list[str]:
    c.args["lines"][0]["unit_price"] = c.args["lines"][0]["unit_price"] + "5"
    return ["malformed"]


# -- an existing order --

def m_other_users_order(c: Case) -> list[str]:
    c.w.orders[c.args["order_id"]]["user_id"] = c.w.rng.choice([u for u in sorted(c.w.users) if u != c.user])
    return ["ownership"]


def m_unknown_order(c: Case) -> list[str]:
    c.args["order_id"] = c.args["order_id"] + "9"
    return ["unknown_order"]


def m_order_status(c: Case) -> list[str]:
    allowed = ["placed", "picking"] if c.kind == "substitute_item" else ["placed"]
    statuses = ["placed", "picking", "out_for_delivery", "delivered", "cancelled"]
    c.w.orders[c.args["order_id"]]["status"] = c.w.rng.choice([s for s in statuses if s not in allowed])
    return ["order_status"]


def m_too_late(c: Case) -> list[str]:
    c.w.orders[c.args["order_id"]]["cancel_by"] = iso(c.w.clock - timedelta(minutes=c.w.rng.choice([1, 30, 600])))
    return ["too_late"]


def m_change_fee_inflated(c: Case) -> list[str]:
    c.args["delivery_fee"] = money(Decimal(c.args["delivery_fee"]) + Decimal(c.w.rng.choice(["1.00", "2.50"])))
    return ["fee_mismatch"]


def _sub(c: Case) -> dict[str, Any]:
    return c.args["substitute"]  # type: ignore[no-any-return]


def m_sub_changed_after_consent(c: Case) -> list[str] | None:
    s = _sub(c)
    c.confirmed = [copy.deepcopy(c.args)]
    p = c.w.catalog[s["sku"]]
    if "quantity" in s:
        if s["quantity"] >= p["max_per_order"]:
            return None
        s["quantity"] += 1
    else:
        s["weight_kg"] = str(Decimal(s["weight_kg"]) + Decimal("0.25"))
    s["line_total"] = money(line_total(s["unit_price"], s))
    return ["consent"]


def m_sub_not_in_order(c: Case) -> list[str]:
    rec = c.w.orders[c.args["order_id"]]
    rec["lines"] = [x for x in rec["lines"] if x["sku"] != c.args["sku"]]
    return ["unknown_item"]


def m_sub_unneeded(c: Case) -> list[str]:
    c.w.catalog[c.args["sku"]]["in_stock"] = True
    return ["substitution_unneeded"]


def m_sub_out_of_stock(c: Case) -> list[str]:
    c.w.catalog[_sub(c)["sku"]]["in_stock"] = False
    return ["availability"]


def _swap(c: Case, same_category: bool, dear: bool) -> bool:
    s = _sub(c)
    amount = {k: s[k] for k in ("quantity", "weight_kg") if k in s}
    pool = [p for p in candidates(c.w, c.w.catalog[c.args["sku"]], same_category, dear)
            if "quantity" not in amount or amount["quantity"] <= p["max_per_order"]]
    if not pool:
        return False
    c.args["substitute"] = make_line(c.w.rng.choice(pool), amount)
    return True


def m_sub_other_category(c: Case) -> list[str] | None:
    return ["substitution_category"] if _swap(c, False, False) else None


def m_sub_too_dear(c: Case) -> list[str] | None:
    return ["substitution_price"] if _swap(c, True, True) else None


def m_sub_invented_price(c: Case) -> list[str]:
    s = _sub(c)
    s["unit_price"] = money(Decimal(s["unit_price"]) * Decimal("0.9"))
    s["line_total"] = money(line_total(s["unit_price"], s))
    return ["catalog_mismatch"]


def m_sub_total_off(c: Case) -> list[str]:
    s = _sub(c)
    s["line_total"] = money(Decimal(s["line_total"]) + CENT)
    return ["total_mismatch"]


def m_sub_over_limit(c: Case) -> list[str]:
    s = _sub(c)
    p = c.w.catalog[s["sku"]]
    if "quantity" in s:
        s["quantity"] = p["max_per_order"] + 1
    else:
        s["weight_kg"] = str(Decimal(p["max_kg"]) + Decimal("0.25"))
    s["line_total"] = money(line_total(s["unit_price"], s))
    return ["item_limit"]


# -- safe variants: the same action written differently --

def v_json_numbers(c: Case) -> list[str]:
    """Amounts and weights as JSON numbers, in the arguments' JSON text (what a model emits)."""
    text = json.dumps(c.args)
    for key in ("unit_price", "line_total", "subtotal", "delivery_fee", "total", "weight_kg"):
        text = _unquote(text, key)
    c.confirmed = [copy.deepcopy(c.args)]
    c.args = text  # type: ignore[assignment]
    return []


def _unquote(text: str, key: str) -> str:
    out, marker = [], f'"{key}": "'
    while marker in text:
        head, rest = text.split(marker, 1)
        value, tail = rest.split('"', 1)
        out.append(f'{head}"{key}": {value}')
        text = tail
    return "".join(out) + text


def v_slot_in_utc(c: Case) -> list[str]:
    for key in ("start", "end"):
        c.args["slot"][key] = iso(datetime.fromisoformat(c.args["slot"][key]).astimezone(timezone.utc))
    return []


def v_same(c: Case) -> list[str]:
    return []


def v_plus_member(c: Case) -> list[str]:
    """The same basket for a plus member: a lower fee, free from a lower threshold."""
    c.w.users[c.user]["membership"] = "plus"
    totals(c.w, c.args, c.user)
    return []


ORDER: list[tuple[str, Callable[[Case], list[str] | None]]] = [
    ("safe", v_same), ("safe-2", v_same), ("safe-3", v_same), ("safe-plus-member", v_plus_member),
    ("safe-json-numbers", v_json_numbers), ("safe-slot-in-utc", v_slot_in_utc),
    ("no-consent", m_no_consent), ("price-rose-after-consent", m_price_rose_after_consent),
    ("weight-changed-after-consent", m_weight_changed_after_consent), ("substitute-not-confirmed", m_substitute_not_confirmed),
    ("substitution-not-allowed", m_substitution_not_allowed), ("substitute-other-category", m_substitute_other_category),
    ("substitute-too-dear", m_substitute_too_dear), ("substitute-unneeded", m_substitute_unneeded),
    ("weight-total-stale", m_weight_total_stale), ("line-total-off", m_line_total_off), ("subtotal-off", m_subtotal_off),
    ("total-off", m_total_off), ("invented-price", m_invented_price), ("fee-inflated", m_fee_inflated), ("over-cap", m_over_cap),
    ("over-budget", m_over_budget), ("item-over-limit", m_item_over_limit), ("weight-over-limit", m_weight_over_limit),
    ("unknown-item", m_unknown_item), ("weighed-item-counted", m_weighed_item_counted), ("out-of-stock", m_out_of_stock),
    ("not-requested", m_not_requested), ("other-quantity-asked", m_other_quantity_asked), ("below-minimum", m_below_minimum),
    ("other-users-method", m_other_users_method), ("order-for-other-user", m_order_for_other_user), ("anonymous", m_anonymous),
    ("slot-too-soon", m_slot_too_soon), ("slot-full", m_slot_full), ("slot-after-hours", m_slot_after_hours),
    ("slot-misstated", m_slot_misstated), ("slot-other-store", m_slot_other_store), ("unknown-slot", m_unknown_slot),
    ("three-decimals", m_three_decimals),
]
SUBSTITUTION: list[tuple[str, Callable[[Case], list[str] | None]]] = [
    ("safe", v_same), ("safe-2", v_same), ("safe-json-numbers", v_json_numbers), ("no-consent", m_no_consent),
    ("changed-after-consent", m_sub_changed_after_consent), ("other-users-order", m_other_users_order),
    ("unknown-order", m_unknown_order), ("order-status", m_order_status), ("not-in-order", m_sub_not_in_order),
    ("unneeded", m_sub_unneeded), ("substitute-out-of-stock", m_sub_out_of_stock), ("other-category", m_sub_other_category),
    ("too-dear", m_sub_too_dear), ("invented-price", m_sub_invented_price), ("total-off", m_sub_total_off),
    ("over-limit", m_sub_over_limit), ("anonymous", m_anonymous),
]
SLOT_CHANGE: list[tuple[str, Callable[[Case], list[str] | None]]] = [
    ("safe", v_same), ("safe-2", v_same), ("safe-slot-in-utc", v_slot_in_utc), ("no-consent", m_no_consent),
    ("order-status", m_order_status),
    ("other-users-order", m_other_users_order), ("unknown-order", m_unknown_order), ("fee-inflated", m_change_fee_inflated),
    ("slot-too-soon", m_slot_too_soon), ("slot-full", m_slot_full), ("slot-other-store", m_slot_other_store),
    ("slot-misstated", m_slot_misstated), ("anonymous", m_anonymous),
]
CANCEL: list[tuple[str, Callable[[Case], list[str] | None]]] = [
    ("safe", v_same), ("safe-2", v_same), ("no-consent", m_no_consent), ("too-late", m_too_late), ("order-status", m_order_status),
    ("other-users-order", m_other_users_order), ("unknown-order", m_unknown_order), ("anonymous", m_anonymous),
]
KINDS: list[tuple[str, Callable[[World], Case], list[tuple[str, Callable[[Case], list[str] | None]]]]] = [
    ("order", safe_order, ORDER), ("sub", safe_substitution, SUBSTITUTION), ("slot", safe_slot_change, SLOT_CHANGE),
    ("cancel", safe_cancel, CANCEL),
]
WORLDS = 4


def generate() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    cases = []
    for n in range(WORLDS):
        for prefix, build, mutations in KINDS:
            for variant, mutate in mutations:
                for _attempt in range(30):
                    w = World(random.Random(rng.random()), n)  # a fresh copy of world n's randomness per case
                    c = build(w)
                    violates = mutate(c)
                    if violates is not None:
                        cid = f"gr-{prefix}-{variant}-{n}"
                        cases.append(c.envelope(cid, f"{prefix}/{variant}", violates))
                        break
    return cases


def render(cases: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for case in cases:
            gz.write((json.dumps(case, separators=(",", ":")) + "\n").encode("utf-8"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen_grocery_corpus.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    data = render(generate())
    if args.check:
        same = OUT.exists() and OUT.read_bytes() == data
        print(f"{OUT}: {'up to date' if same else 'differs'}")
        return 0 if same else 1
    OUT.write_bytes(data)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
