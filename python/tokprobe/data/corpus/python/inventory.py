"""A small inventory service: items, stock movements and a reorder report."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable, Iterator


class StockError(ValueError):
    """Raised when a movement would make the stock negative."""


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    unit_price: float
    reorder_level: int = 10

    def __post_init__(self) -> None:
        if not self.sku or not self.sku.isalnum():
            raise ValueError(f"bad SKU: {self.sku!r}")
        if self.unit_price < 0:
            raise ValueError("price must not be negative")


@dataclass
class Movement:
    sku: str
    quantity: int
    day: date
    note: str = ""


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    history: list[Movement] = field(default_factory=list)

    def add_item(self, item: Item) -> None:
        if item.sku in self.items:
            raise KeyError(f"duplicate SKU {item.sku}")
        self.items[item.sku] = item

    def move(self, sku: str, quantity: int, day: date | None = None, note: str = "") -> int:
        if sku not in self.items:
            raise KeyError(sku)
        new_level = self.stock[sku] + quantity
        if new_level < 0:
            raise StockError(f"{sku}: only {self.stock[sku]} left, cannot remove {-quantity}")
        self.stock[sku] = new_level
        self.history.append(Movement(sku, quantity, day or date.today(), note))
        return new_level

    def value(self) -> float:
        return sum(self.items[s].unit_price * q for s, q in self.stock.items())

    def below_reorder(self) -> Iterator[tuple[Item, int]]:
        for sku, item in sorted(self.items.items()):
            level = self.stock.get(sku, 0)
            if level <= item.reorder_level:
                yield item, level

    def usage(self, sku: str, days: int = 30, today: date | None = None) -> float:
        """Average units taken out per day over the last ``days`` days."""
        today = today or date.today()
        start = today - timedelta(days=days)
        taken = -sum(m.quantity for m in self.history if m.sku == sku and m.quantity < 0 and m.day > start)
        return taken / days if days else 0.0


def load_items(path: Path) -> list[Item]:
    with open(path, newline="", encoding="utf-8") as f:
        return [Item(r["sku"], r["name"], float(r["price"]), int(r.get("reorder") or 10)) for r in csv.DictReader(f)]


def reorder_report(inv: Inventory, lead_days: int = 7) -> list[dict]:
    rows = []
    for item, level in inv.below_reorder():
        daily = inv.usage(item.sku)
        suggested = max(item.reorder_level * 2 - level, round(daily * lead_days))
        rows.append({"sku": item.sku, "name": item.name, "level": level, "order": suggested})
    return rows


def main(argv: Iterable[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("items", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    inv = Inventory()
    for item in load_items(args.items):
        inv.add_item(item)
        inv.move(item.sku, item.reorder_level)
    report = reorder_report(inv)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for row in report:
            print(f"{row['sku']:<10} {row['name']:<30} {row['level']:>5} -> order {row['order']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
