"""Job types as managed objects: create, update, revisions, archive, integer ids (SqlStore part).

Every change of a definition is a new revision; jobs keep the revision they were made with.
State that is not the definition (archived, paused) changes no revision. Integer ids come from
the ``ident`` table: one per type name and one per revision, given when they are first stored,
never changed or reused (Scale's API and the load filters speak integers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import JSON, JobSpec, JobType, TypeDefinition
from jobyard.store.tx import Row, Tx

TYPE = "job_type"  # ident kinds
TYPE_REV = "job_type_rev"


def rev_key(name: str, revision: int) -> str:
    return f"{name}#{revision}"


class CatalogProtocol(Protocol):
    def type_create(self, definition: TypeDefinition) -> JobType:
        """A new type at revision 1; Duplicate when the name exists (archived or not)."""
        ...

    def type_update(self, name: str, changes: Mapping[str, JSON]) -> JobType:
        """The current definition with ``changes`` (keys of ``TypeDefinition.to_dict``) applied.

        A change makes a new revision; no change keeps the current one. NotFound, or Invalid
        naming the field.
        """
        ...

    def type_revisions(self, name: str) -> list[JobType]:
        """Every revision of a type, oldest first (``id``: the revision's own id)."""
        ...

    def type_archive(self, name: str, *, by: str | None = None) -> JobType:
        """Archive: new jobs are refused (Invalid), listings leave it out unless asked.

        Jobs already made run as before. Archiving an archived type changes nothing.
        """
        ...

    def type_unarchive(self, name: str) -> JobType:
        """Bring an archived type back: it takes new jobs again."""
        ...

    def type_by_id(self, type_id: int) -> JobType:
        """The type with this integer id; NotFound otherwise."""
        ...

    def ident_ids(self, kind: str, keys: Sequence[str], *, create: bool = False) -> dict[str, int]:
        """Integer ids of names of ``kind`` (``create``: give the missing ones an id)."""
        ...

    def ident_key(self, kind: str, ident: int) -> str:
        """The name an integer id stands for; NotFound otherwise."""
        ...


class CatalogStore:
    """Mixed into SqlStore; relies on its ``_tx``, ``_list``, ``_job_type`` and ``now``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _list: Callable[[Any], Any]
    _job_type: Callable[[Row], JobType]
    now: Callable[[], float]

    # -- writing revisions (type_register uses this too) -----------------------------------

    def _type_put(self, tx: Tx, definition: TypeDefinition, current: Row | None) -> JobType:
        """Store ``definition`` as the next revision, unless it equals the current one."""
        wanted = definition.to_dict()
        if current is not None and json.loads(current["definition"]) == wanted:
            return self._job_type(current)
        now = self.now()
        revision = 1 if current is None else int(current["revision"]) + 1
        text = json.dumps(wanted, separators=(",", ":"), ensure_ascii=False)
        params = {"name": definition.name, "revision": revision, "definition": text, "now": now}
        tx.run("type_store", **params)
        tx.run("type_rev_insert", **params)
        tx.run("queue_ensure", name=definition.queue, now=now)
        tx.run("ident_ensure", kind=TYPE, key=definition.name)
        tx.run("ident_ensure", kind=TYPE_REV, key=rev_key(definition.name, revision))
        row = tx.one("type_current", name=definition.name)
        assert row is not None
        return self._job_type(row)

    def type_create(self, definition: TypeDefinition) -> JobType:
        with self._tx() as tx:
            current = tx.one("type_current", name=definition.name)
            if current is not None:
                archived = " (archived: unarchive it)" if current.get("archived_at") else ""
                raise Duplicate(
                    f"job type {definition.name!r} exists{archived}; update it instead",
                    field="name",
                )
            return self._type_put(tx, definition, None)

    def type_update(self, name: str, changes: Mapping[str, JSON]) -> JobType:
        if "name" in changes and changes["name"] != name:
            raise Invalid("a job type cannot be renamed: create a new one", field="name")
        with self._tx() as tx:
            current = tx.one("type_current", name=name)
            if current is None:
                raise NotFound(f"no job type {name!r}", field="name", type=name)
            merged = {**json.loads(current["definition"]), **changes, "name": name}
            return self._type_put(tx, TypeDefinition.from_dict(merged), current)

    def type_revisions(self, name: str) -> list[JobType]:
        with self._tx(write=False) as tx:
            rows = tx.rows("type_rev_list", name=name)
        if not rows:
            raise NotFound(f"no job type {name!r}", field="name", type=name)
        return [self._job_type(r) for r in rows]

    def type_archive(self, name: str, *, by: str | None = None) -> JobType:
        return self._set_archived(name, archived=True, by=by)

    def type_unarchive(self, name: str) -> JobType:
        return self._set_archived(name, archived=False, by=None)

    def _set_archived(self, name: str, *, archived: bool, by: str | None) -> JobType:
        with self._tx() as tx:
            tx.run("type_set_archived", name=name, archived=archived, by=by, now=self.now())
            row = tx.one("type_current", name=name)
        if row is None:
            raise NotFound(f"no job type {name!r}", field="name", type=name)
        return self._job_type(row)

    def type_by_id(self, type_id: int) -> JobType:
        with self._tx(write=False) as tx:
            found = tx.one("ident_key", kind=TYPE, id=type_id)
            row = None if found is None else tx.one("type_current", name=found["key"])
        if row is None:
            raise NotFound(f"no job type with id {type_id}", field="id")
        return self._job_type(row)

    # -- integer ids ----------------------------------------------------------------------

    def ident_ids(self, kind: str, keys: Sequence[str], *, create: bool = False) -> dict[str, int]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        with self._tx(write=create) as tx:
            if create:
                tx.many("ident_ensure", [{"kind": kind, "key": k} for k in wanted])
            rows = tx.rows("ident_of", kind=kind, keys=self._list(wanted))
        return {r["key"]: int(r["id"]) for r in rows}

    def ident_key(self, kind: str, ident: int) -> str:
        with self._tx(write=False) as tx:
            row = tx.one("ident_key", kind=kind, id=ident)
        if row is None:
            raise NotFound(f"no {kind.replace('_', ' ')} with id {ident}", field="id")
        return str(row["key"])

    # -- enqueue --------------------------------------------------------------------------

    @staticmethod
    def _check_specs(specs: Sequence[JobSpec], types: Mapping[str, JobType]) -> None:
        """Inside job_enqueue, before anything is written: archived types and interfaces."""
        for index, spec in enumerate(specs):
            job_type = types[spec.type]
            where, label = ("", "") if len(specs) == 1 else (f"[{index}].", f"job {index}: ")
            if job_type.archived_at is not None:
                raise Invalid(
                    f"{label}job type {spec.type!r} is archived: it takes no new jobs "
                    "(unarchive it to enqueue again)",
                    field=f"{where}type",
                    type=spec.type,
                )
            interface = job_type.definition.interface
            if interface is not None:
                try:
                    interface.check_args(spec.args)
                except Invalid as exc:
                    raise Invalid(f"{label}{exc.message}", field=f"{where}{exc.field}") from exc
