"""Benchmark of the SQL CRM store against the same queries written by hand.

Loads 100,000 companies and 400,000 people (times ``--scale``) with executemany, then times each
list/get/create/update through ``SqlBackend`` and through hand-written SQL on the same DBAPI
connection type, and prints p50/p99 and the ratio. Run:

    python tests/benchmarks/bench_crm_store.py                 # both stores, full size
    python tests/benchmarks/bench_crm_store.py --scale 0.1 --stores sqlite
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crm_tools.backends._sql_schema import TABLES
from crm_tools.backends.sql import SqlBackend

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SYLLABLES = [
    "ac",
    "be",
    "co",
    "da",
    "el",
    "fa",
    "ga",
    "ho",
    "in",
    "jo",
    "ka",
    "lu",
    "ma",
    "no",
    "or",
    "pa",
    "qu",
    "ri",
    "sa",
    "to",
    "ul",
    "ve",
    "wa",
    "xe",
    "yo",
    "ze",
    "ar",
    "en",
    "is",
    "um",
]
SUFFIXES = ["Labs", "Systems", "Logistics", "Foods", "Health", "Robotics", "Energy", "Capital", "Media"]


def _rows(scale: float, seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    epoch = datetime(2025, 1, 1)
    n_companies, n_people = int(100_000 * scale), int(400_000 * scale)
    companies = []
    for n in range(n_companies):
        created = epoch + timedelta(seconds=n * 30)
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        companies.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created_at": created,
                "updated_at": created,
                "deleted_at": None,
                "position": float(n),
                "name": f"{name} {rng.choice(SUFFIXES)}",
                "domain_name_primary_link_url": f"{name.lower()}{n}.com",
                "employees": None if rng.random() < 0.1 else rng.randint(1, 50_000),
                "ideal_customer_profile": rng.random() < 0.2,
            }
        )
    people = []
    for n in range(n_people):
        created = epoch + timedelta(seconds=n * 7)
        people.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created_at": created,
                "updated_at": created,
                "deleted_at": None,
                "position": float(n),
                "name_first_name": rng.choice(SYLLABLES).capitalize() + rng.choice(SYLLABLES),
                "name_last_name": rng.choice(SYLLABLES).capitalize() + rng.choice(SYLLABLES) + "son",
                "emails_primary_email": f"person{n}@example.com",
                "company_id": companies[rng.randrange(n_companies)]["id"],
            }
        )
    return companies, people


def _load(backend: SqlBackend, companies: list[dict[str, Any]], people: list[dict[str, Any]]) -> None:
    engine = backend._store.engine
    for table, rows in ((TABLES["company"], companies), (TABLES["person"], people)):
        for start in range(0, len(rows), 20_000):
            with engine.begin() as conn:
                conn.execute(table.insert(), rows[start : start + 20_000])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _time(fn: Callable[[int], Any], iterations: int) -> list[float]:
    for n in range(min(20, iterations)):
        fn(n)
    samples = []
    for n in range(iterations):
        started = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Raw:
    """The same operations written by hand on one DBAPI connection of the same driver."""

    def __init__(self, backend: SqlBackend, schema: str | None) -> None:
        self.pg = backend.dialect == "postgresql"
        self.conn = backend._store.engine.raw_connection()
        self.p = "%s" if self.pg else "?"
        self.t = (lambda name: f'"{schema}".{name}') if schema else (lambda name: name)
        if self.pg:
            # Set on the driver's own connection: the pool's proxy would keep the attribute to itself.
            self.conn.driver_connection.autocommit = True

    def _all(self, sql: str, params: tuple) -> list[dict[str, Any]]:
        # A hand-written store would hand back records too, so rows become dicts by column name.
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", self.p), params)
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        cur.close()
        return rows

    def _write(self, sql: str, params: tuple) -> list[dict[str, Any]]:
        # The CRM's create and update hand back the written record, so the hand-written statement does
        # too (RETURNING *). A lone statement in autocommit is its own transaction, as the store's is.
        return self._all(f"{sql} RETURNING *", params)

    def page(
        self, where: str, params: tuple, order: str, after: str = "", after_params: tuple = ()
    ) -> list[dict[str, Any]]:
        table = self.t("companies") if "company_id" not in where else self.t("people")
        self._all(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL AND {where}", params)
        sql = f"SELECT * FROM {table} WHERE deleted_at IS NULL AND {where}{after} ORDER BY {order} LIMIT 61"
        return self._all(sql, params + after_params)

    def name_match(self) -> str:
        return "lower(name) LIKE ?" if self.pg else "name LIKE ?"

    def get(self, record_id: str) -> list[dict[str, Any]]:
        return self._all(
            f"SELECT * FROM {self.t('companies')} WHERE id = ? AND deleted_at IS NULL", (record_id,)
        )

    def create(self, n: int) -> list[dict[str, Any]]:
        now = datetime.now()
        return self._write(
            f"INSERT INTO {self.t('companies')} (id, created_at, updated_at, position, name, employees, "
            "ideal_customer_profile) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), now, now, now.timestamp(), f"Raw company {n}", n, False),
        )

    def update(self, record_id: str, n: int) -> list[dict[str, Any]]:
        return self._write(
            f"UPDATE {self.t('companies')} SET employees = ?, updated_at = ? WHERE id = ?",
            (n, datetime.now(), record_id),
        )


def _bench_store(
    label: str, backend: SqlBackend, schema: str | None, scale: float, iterations: int
) -> list[dict[str, Any]]:
    companies, people = _rows(scale)
    started = time.perf_counter()
    _load(backend, companies, people)
    print(
        f"[{label}] loaded {len(companies):,} companies and {len(people):,} people in {time.perf_counter() - started:.1f} s"
    )
    raw = Raw(backend, schema)
    rng = random.Random(3)
    ids = [c["id"] for c in rng.sample(companies, 500)]
    busy_company = people[0]["company_id"]
    substring_order = "employees DESC NULLS LAST, id ASC" if raw.pg else "employees DESC, id ASC"

    prefix = backend.list("company", filter='name[ilike]:"ac%"', limit=60)
    prefix_cursor = prefix["pageInfo"]["endCursor"]
    prefix_last = prefix["data"]["companies"][-1]["id"]
    substring = backend.list(
        "company", filter='name[ilike]:"%ac%"', order_by="employees[DescNullsLast]", limit=60
    )
    sub_cursor = substring["pageInfo"]["endCursor"]
    sub_last = substring["data"]["companies"][-1]
    keyset = " AND (employees < ? OR employees IS NULL OR (employees = ? AND id > ?))"
    keyset_params = (sub_last["employees"], sub_last["employees"], sub_last["id"])

    cases: list[tuple[str, Callable[[int], Any], Callable[[int], Any]]] = [
        (
            "prefix page  name[ilike]:'ac%'",
            lambda n: backend.list("company", filter='name[ilike]:"ac%"', limit=60),
            lambda n: raw.page(raw.name_match(), ("ac%",), "id"),
        ),
        (
            "prefix next page (cursor)",
            lambda n: backend.list(
                "company", filter='name[ilike]:"ac%"', limit=60, starting_after=prefix_cursor
            ),
            lambda n: raw.page(raw.name_match(), ("ac%",), "id", " AND id > ?", (prefix_last,)),
        ),
        (
            "substring page '%ac%' by employees",
            lambda n: backend.list(
                "company", filter='name[ilike]:"%ac%"', order_by="employees[DescNullsLast]", limit=60
            ),
            lambda n: raw.page(raw.name_match(), ("%ac%",), substring_order),
        ),
        (
            "substring next page (cursor)",
            lambda n: backend.list(
                "company",
                filter='name[ilike]:"%ac%"',
                order_by="employees[DescNullsLast]",
                limit=60,
                starting_after=sub_cursor,
            ),
            lambda n: raw.page(raw.name_match(), ("%ac%",), substring_order, keyset, keyset_params),
        ),
        (
            "people of one company",
            lambda n: backend.list("person", filter=f"companyId[eq]:{busy_company}", limit=60),
            lambda n: raw.page("company_id = ?", (busy_company,), "id"),
        ),
        (
            "get by id",
            lambda n: backend.get("company", ids[n % len(ids)]),
            lambda n: raw.get(ids[n % len(ids)]),
        ),
        (
            "create",
            lambda n: backend.create("company", {"name": f"Bench company {n}", "employees": n}),
            raw.create,
        ),
        (
            "update",
            lambda n: backend.update("company", ids[n % len(ids)], {"employees": n}),
            lambda n: raw.update(ids[(n + 250) % len(ids)], n),
        ),
    ]
    results = []
    for name, ours, theirs in cases:
        mine = _time(ours, iterations)
        hand = _time(theirs, iterations)
        results.append((label, name, _pct(mine, 0.5), _pct(mine, 0.99), _pct(hand, 0.5), _pct(hand, 0.99)))
    raw.conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k companies / 400k people")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args()
    results = []
    for store in args.stores.split(","):
        if store == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                backend = SqlBackend(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
                results += _bench_store("sqlite", backend, None, args.scale, args.iterations)
                backend.close()
        elif store == "postgres":
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            backend = SqlBackend(args.postgres_url, schema=schema)
            try:
                results += _bench_store("postgres", backend, schema, args.scale, args.iterations)
            finally:
                with backend._store.engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                backend.close()
        else:
            parser.error(f"unknown store {store!r}; accepted: sqlite, postgres")
    print()
    print(
        f"{'store':9} {'operation':38} {'ours p50':>9} {'ours p99':>9} {'raw p50':>9} {'raw p99':>9} {'ratio p50':>9}"
    )
    for label, name, p50, p99, r50, r99 in results:
        print(f"{label:9} {name:38} {p50:8.3f}ms {p99:8.3f}ms {r50:8.3f}ms {r99:8.3f}ms {p50 / r50:8.2f}x")
    print(f"\n(scale {args.scale}, {args.iterations} timed calls per operation)")


if __name__ == "__main__":
    main()
