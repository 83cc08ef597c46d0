"""The SQL tables of the CRM, derived from the field catalogue, with the indexes list queries use."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from crm_tools.backends._case_fold import folded
from crm_tools.models import OBJECTS, FieldSpec, ObjectSpec

metadata = MetaData()

_TYPES: dict[str, TypeEngine] = {
    "text": Text(),
    "email": Text(),
    "integer": BigInteger(),
    "float": Float(),
    "boolean": Boolean(),
    "uuid": String(36),
    "select": String(40),
    "datetime": DateTime(),
}


def _column(spec: ObjectSpec, leaf: FieldSpec) -> Column:
    if leaf.path == "id":
        return Column("id", String(36), primary_key=True)
    kind = leaf.kind
    if kind.relation:
        target = OBJECTS[kind.relation].table
        # Deletes are soft, so the foreign key only guards against dangling ids; SET NULL covers
        # rows removed by hand.
        on_delete = "CASCADE" if spec.name.endswith("Target") else "SET NULL"
        return Column(leaf.column, String(36), ForeignKey(f"{target}.id", ondelete=on_delete))
    nullable = leaf.path not in ("createdAt", "updatedAt")
    return Column(leaf.column, _TYPES[kind.name], nullable=nullable)


def _table(spec: ObjectSpec) -> Table:
    return Table(spec.table, metadata, *(_column(spec, leaf) for leaf in spec.fields.values()))


TABLES: dict[str, Table] = {name: _table(spec) for name, spec in OBJECTS.items()}

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("object_name", String(20), nullable=False),
    Column("key", Text, nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("object_name", "key", name="pk_idempotency_keys"),
)


# The indexes behind prefix ``ilike``, per dialect: created with the tables, and added to stores
# made before they existed when a store opens.
FOLD_INDEXES: dict[str, list[Index]] = {"sqlite": [], "postgresql": []}


def _text_prefix_index(table: Table, column: str) -> None:
    """Case-insensitive prefix search (``ilike 'ac%'``) served by an index on each dialect.

    Both index the folded text (``_case_fold``): SQLite reads a range of it (partial on live rows and
    carrying the id, so a prefix page's count and id pass never touch the table), PostgreSQL a
    ``text_pattern_ops`` index, so that ``LIKE 'ac%'`` is a range scan whatever the collation.
    """
    col = table.c[column]
    live = table.c.deleted_at.is_(None)
    name = f"ix_{table.name}_{column}_folded"
    lite = Index(name, folded(col, sqlite=True), table.c.id, sqlite_where=live)
    lite.ddl_if(dialect="sqlite")
    label = f"folded_{column}"
    pg = Index(name, folded(col, sqlite=False).label(label), postgresql_ops={label: "text_pattern_ops"})
    pg.ddl_if(dialect="postgresql")
    FOLD_INDEXES["sqlite"].append(lite)
    FOLD_INDEXES["postgresql"].append(pg)


def _indexes() -> None:
    for name, table in TABLES.items():
        spec = OBJECTS[name]
        for leaf in spec.fields.values():
            if leaf.kind.relation:
                Index(f"ix_{table.name}_{leaf.column}", table.c[leaf.column])
        Index(f"ix_{table.name}_created_at", table.c.created_at)
    companies, people, opportunities, tasks = (
        TABLES[n] for n in ("company", "person", "opportunity", "task")
    )
    _text_prefix_index(companies, "name")
    _text_prefix_index(companies, "domain_name_primary_link_url")
    _text_prefix_index(people, "name_first_name")
    _text_prefix_index(people, "name_last_name")
    _text_prefix_index(opportunities, "name")
    Index("ix_companies_employees", companies.c.employees)
    Index("ix_opportunities_stage", opportunities.c.stage)
    Index("ix_tasks_status", tasks.c.status)
    # Emails are unique among live people only, so a deleted person's address can be reused.
    live = people.c.deleted_at.is_(None)
    Index(
        "ux_people_primary_email",
        people.c.emails_primary_email,
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )


_indexes()
