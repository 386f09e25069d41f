"""Samples, results, parameters and limits as use cases on the in-memory adapters.

Authorization (admin / technician / viewer / no lab), client ids, validation, unit
conversion, per-standard evaluations, the derived sample status, tombstones, versions,
and limit edits with and without explicit re-evaluation — each change audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.ids import UuidGenerator
from adapters.memory.lab_data import seed_reference_data
from adapters.reference_data import NM, WHO, parameter_id
from application import labs, reference, samples
from application.context import Caller, Principal, RequestMeta
from application.views import ResultView, SampleView
from domain.audit import AuditAction, AuditEntityType, AuditEntry
from domain.compliance import Basis, ParameterKind
from domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    VersionConflict,
)
from domain.ports import SampleQuery
from domain.roles import Role
from tests.unit.conftest import World

COLLECTED = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)
TESTED = datetime(2025, 1, 11, 9, 0, tzinfo=UTC)


def caller(role: Role, lab_id: UUID | None, reason: str = "unit test") -> Caller:
    return Caller(
        Principal(user_id=uuid4(), role=role, lab_id=lab_id),
        RequestMeta(request_id=f"req-{role.value}", reason=reason),
    )


@dataclass
class LabWorld:
    world: World
    deps: samples.LabDataDeps
    ref: reference.ReferenceDeps
    lab_a: UUID
    lab_b: UUID
    admin: Caller
    tech: Caller
    viewer: Caller
    other_tech: Caller
    other_viewer: Caller
    lonely_viewer: Caller
    lonely_tech: Caller

    # --- samples -------------------------------------------------------------------

    def sample_values(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "drinking",
            "location": "Bouskoura well 3",
            "collection_date": COLLECTED,
            "collector_name": "Youssef El Amrani",
            **overrides,
        }

    def create_sample(
        self,
        who: Caller | None = None,
        *,
        lab_id: UUID | None = None,
        id: UUID | None = None,
        **overrides: Any,
    ) -> SampleView:
        cmd = samples.CreateSampleCommand(self.sample_values(**overrides), lab_id=lab_id, id=id)
        return samples.CreateSample(self.deps)(who or self.tech, cmd)

    def get_sample(self, sample_id: UUID, who: Caller | None = None) -> SampleView:
        view = samples.GetSample(self.deps)(who or self.tech, sample_id).view
        assert isinstance(view, SampleView)  # the in-memory storage hands records over
        return view

    def update_sample(
        self, sample_id: UUID, who: Caller | None = None, **kwargs: Any
    ) -> SampleView:
        changes = kwargs.pop("changes", {})
        cmd = samples.UpdateSampleCommand(sample_id, changes, **kwargs)
        return samples.UpdateSample(self.deps)(who or self.tech, cmd)

    def delete_sample(
        self, sample_id: UUID, who: Caller | None = None, if_match: int | None = None
    ) -> None:
        samples.DeleteSample(self.deps)(who or self.tech, sample_id, if_match=if_match)

    def list_samples(self, who: Caller | None = None, **query: Any) -> list[SampleView]:
        return samples.ListSamples(self.deps)(who or self.tech, SampleQuery(**query)).items

    # --- results -------------------------------------------------------------------

    def add_result(
        self,
        sample_id: UUID,
        parameter: str = "nitrate",
        value: float = 10.0,
        unit: str = "mg/L",
        who: Caller | None = None,
        id: UUID | None = None,
        **extra: Any,
    ) -> ResultView:
        values = {
            "parameter": parameter,
            "value": value,
            "unit": unit,
            "test_date": TESTED,
            **extra,
        }
        cmd = samples.CreateResultCommand(sample_id, values, id=id)
        return samples.CreateResult(self.deps)(who or self.tech, cmd)

    def update_result(
        self, result_id: UUID, who: Caller | None = None, **kwargs: Any
    ) -> ResultView:
        changes = kwargs.pop("changes", {})
        cmd = samples.UpdateResultCommand(result_id, changes, **kwargs)
        return samples.UpdateResult(self.deps)(who or self.tech, cmd)

    def delete_result(
        self, result_id: UUID, who: Caller | None = None, if_match: int | None = None
    ) -> None:
        samples.DeleteResult(self.deps)(who or self.tech, result_id, if_match=if_match)

    def get_result(self, result_id: UUID, who: Caller | None = None) -> ResultView:
        return samples.GetResult(self.deps)(who or self.tech, result_id)

    # --- limits --------------------------------------------------------------------

    def put_limit(
        self,
        standard: str,
        parameter: str,
        who: Caller | None = None,
        *,
        basis: Basis = Basis.HEALTH,
        **kwargs: Any,
    ) -> reference.LimitChange:
        cmd = reference.PutLimitCommand(standard, parameter, basis, **kwargs)
        return reference.PutLimit(self.ref)(who or self.admin, cmd)

    # --- storage and audit ---------------------------------------------------------

    def audit(self) -> list[AuditEntry]:
        return list(self.world.store.audit)

    def entries_for(self, entity_id: object) -> list[AuditEntry]:
        return [e for e in self.world.store.audit if e.entity_id == str(entity_id)]

    def stored_sample(self, sample_id: UUID) -> Any:
        with self.world.uow() as uow:
            return uow.samples.get_including_deleted(sample_id)

    def stored_result(self, result_id: UUID) -> Any:
        with self.world.uow() as uow:
            return uow.results.get_including_deleted(result_id)


@pytest.fixture
def lw(world: World) -> Iterator[LabWorld]:
    seed_reference_data(world.store)
    ids = UuidGenerator()
    deps = samples.LabDataDeps(world.uow, world.clock, ids)
    ref = reference.ReferenceDeps(world.uow, world.clock, ids)
    bootstrap = caller(Role.ADMIN, None)
    lab_a = labs.CreateLab(world.labs)(bootstrap, labs.CreateLabCommand("Casablanca")).id
    lab_b = labs.CreateLab(world.labs)(bootstrap, labs.CreateLabCommand("Rabat")).id
    yield LabWorld(
        world=world,
        deps=deps,
        ref=ref,
        lab_a=lab_a,
        lab_b=lab_b,
        admin=caller(Role.ADMIN, lab_a, reason="admin correction"),
        tech=caller(Role.TECHNICIAN, lab_a),
        viewer=caller(Role.VIEWER, lab_a),
        other_tech=caller(Role.TECHNICIAN, lab_b),
        other_viewer=caller(Role.VIEWER, lab_b),
        lonely_viewer=caller(Role.VIEWER, None),
        lonely_tech=caller(Role.TECHNICIAN, None),
    )


def changed_nothing(lw: LabWorld, before: int) -> bool:
    return len(lw.audit()) == before


# --- authorization ---------------------------------------------------------------------


def test_admin_works_in_every_lab(lw: LabWorld) -> None:
    own = lw.create_sample(lw.admin)
    assert own.lab_id == lw.lab_a  # default: the admin's own lab
    other = lw.create_sample(lw.admin, lab_id=lw.lab_b, location="Rabat spring")
    assert other.lab_id == lw.lab_b
    assert {s.id for s in lw.list_samples(lw.admin)} == {own.id, other.id}
    assert [s.id for s in lw.list_samples(lw.admin, lab_id=lw.lab_b)] == [other.id]
    # the admin reads and writes in another lab's data
    result = lw.add_result(other.id, who=lw.admin)
    assert lw.get_sample(other.id, lw.admin).results == [result]
    assert lw.update_sample(other.id, lw.admin, changes={"notes": "checked"}).notes == "checked"
    lw.delete_sample(other.id, lw.admin)
    with pytest.raises(NotFound):
        lw.get_sample(other.id, lw.admin)


def test_admin_must_name_an_existing_lab(lw: LabWorld) -> None:
    lab_less_admin = caller(Role.ADMIN, None)
    with pytest.raises(ValidationFailed) as missing:
        lw.create_sample(lab_less_admin)
    assert set(missing.value.field_errors) == {"lab_id"}
    with pytest.raises(ValidationFailed) as unknown:
        lw.create_sample(lw.admin, lab_id=uuid4(), location="")
    assert set(unknown.value.field_errors) == {"lab_id", "location"}


def test_technician_reads_and_writes_own_lab(lw: LabWorld) -> None:
    sample = lw.create_sample()
    assert sample.lab_id == lw.lab_a and sample.created_by == lw.tech.principal.user_id
    explicit = lw.create_sample(lab_id=lw.lab_a, location="Explicit")
    assert explicit.lab_id == lw.lab_a
    result = lw.add_result(sample.id)
    assert lw.get_result(result.id).sample_id == sample.id
    assert lw.update_result(result.id, changes={"value": 12.0}).value == 12.0
    assert lw.update_sample(sample.id, changes={"status": "received"}).status == "received"
    assert {s.id for s in lw.list_samples()} == {sample.id, explicit.id}
    lw.delete_result(result.id)
    lw.delete_sample(explicit.id)


def test_technician_cannot_record_in_another_lab(lw: LabWorld) -> None:
    before = len(lw.audit())
    with pytest.raises(Forbidden):
        lw.create_sample(lab_id=lw.lab_b)
    with pytest.raises(Forbidden):
        lw.create_sample(lw.lonely_tech, lab_id=lw.lab_a)
    assert changed_nothing(lw, before)


def test_another_labs_records_do_not_exist(lw: LabWorld) -> None:
    sample = lw.create_sample(lw.other_tech, location="Rabat spring")
    result = lw.add_result(sample.id, who=lw.other_tech)
    before = len(lw.audit())
    for who in (lw.tech, lw.viewer):
        assert lw.list_samples(who) == []
        assert lw.list_samples(who, lab_id=lw.lab_b) == []  # the lab filter cannot widen scope
        with pytest.raises(NotFound):
            lw.get_sample(sample.id, who)
        with pytest.raises(NotFound):
            samples.ListResults(lw.deps)(who, sample.id)
        with pytest.raises(NotFound):
            lw.get_result(result.id, who)
    for attempt in (
        lambda: lw.update_sample(sample.id, changes={"notes": "x"}),
        lambda: lw.delete_sample(sample.id),
        lambda: lw.add_result(sample.id),
        lambda: lw.update_result(result.id, changes={"value": 1.0}),
        lambda: lw.delete_result(result.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert changed_nothing(lw, before)
    assert lw.get_sample(sample.id, lw.other_viewer).results == [result]


def test_viewer_reads_own_lab_but_never_writes(lw: LabWorld) -> None:
    sample = lw.create_sample()
    result = lw.add_result(sample.id)
    assert lw.get_sample(sample.id, lw.viewer).id == sample.id
    assert [s.id for s in lw.list_samples(lw.viewer)] == [sample.id]
    assert samples.ListResults(lw.deps)(lw.viewer, sample.id) == [result]
    assert lw.get_result(result.id, lw.viewer) == result
    before = len(lw.audit())
    for attempt in (
        lambda: lw.create_sample(lw.viewer),
        lambda: lw.update_sample(sample.id, lw.viewer, changes={"notes": "x"}),
        lambda: lw.delete_sample(sample.id, lw.viewer),
        lambda: lw.add_result(sample.id, who=lw.viewer),
        lambda: lw.update_result(result.id, lw.viewer, changes={"value": 1.0}),
        lambda: lw.delete_result(result.id, lw.viewer),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert changed_nothing(lw, before)
    assert lw.get_sample(sample.id).version == sample.version + 1  # only the status refresh


def test_user_without_a_lab_sees_nothing(lw: LabWorld) -> None:
    sample = lw.create_sample()
    lw.create_sample(lw.other_tech)
    for who in (lw.lonely_viewer, lw.lonely_tech):
        assert lw.list_samples(who) == []
        assert lw.list_samples(who, lab_id=lw.lab_a) == []
        with pytest.raises(NotFound):
            lw.get_sample(sample.id, who)
    with pytest.raises(ValidationFailed) as error:
        lw.create_sample(lw.lonely_tech)
    assert set(error.value.field_errors) == {"lab_id"}


def test_reference_data_is_readable_by_everyone(lw: LabWorld) -> None:
    for who in (lw.lonely_viewer, lw.viewer, lw.tech, lw.admin):
        codes = [p.code for p in reference.ListParameters(lw.ref)(who)]
        assert {"ph", "nitrate", "arsenic", "e_coli"} <= set(codes)
        assert [s.code for s in reference.ListStandards(lw.ref)(who)] == sorted([WHO, NM])
    arsenic = reference.GetParameter(lw.ref)(lw.viewer, parameter_id("arsenic"))
    assert (arsenic.code, arsenic.unit, arsenic.kind) == ("arsenic", "µg/L", "numeric")
    standard = reference.GetStandard(lw.ref)(lw.viewer, WHO)
    nitrate = next(limit for limit in standard.limits if limit.parameter == "nitrate")
    assert (nitrate.max, nitrate.basis) == (50, "health") and nitrate.source
    with pytest.raises(NotFound):
        reference.GetStandard(lw.ref)(lw.viewer, "EU-98-83")
    with pytest.raises(NotFound):
        reference.GetParameter(lw.ref)(lw.viewer, uuid4())


# --- create: ids and validation ----------------------------------------------------------


def test_client_supplied_ids_and_duplicates(lw: LabWorld) -> None:
    sample_id, result_id = uuid4(), uuid4()
    sample = lw.create_sample(id=sample_id)
    assert sample.id == sample_id
    result = lw.add_result(sample_id, id=result_id)
    assert result.id == result_id
    before = len(lw.audit())
    with pytest.raises(Conflict):
        lw.create_sample(id=sample_id)
    with pytest.raises(Conflict):
        lw.create_sample(lw.other_tech, id=sample_id)  # ids are global, not per lab
    with pytest.raises(Conflict):
        lw.add_result(sample_id, id=result_id)
    assert changed_nothing(lw, before)
    lw.delete_sample(sample_id)  # tombstones keep their ids reserved (sync needs them)
    with pytest.raises(Conflict):
        lw.create_sample(id=sample_id)
    other = lw.create_sample()
    with pytest.raises(Conflict):
        lw.add_result(other.id, id=result_id)


def test_sample_validation_reports_every_field_at_once(lw: LabWorld) -> None:
    before = len(lw.audit())
    with pytest.raises(ValidationFailed) as error:
        samples.CreateSample(lw.deps)(
            lw.tech,
            samples.CreateSampleCommand(
                {
                    "type": "lake",
                    "location": "   ",
                    "collection_date": datetime(2025, 1, 1),  # naive: no time zone
                    "collector_name": None,
                    "latitude": 91,
                    "longitude": float("nan"),
                    "status": "lost",
                    "notes": "x" * 10_001,
                }
            ),
        )
    assert set(error.value.field_errors) == {
        "type",
        "location",
        "collection_date",
        "collector_name",
        "latitude",
        "longitude",
        "status",
        "notes",
    }
    assert error.value.field_errors["collector_name"] == ["This field is required"]
    sample = lw.create_sample()
    with pytest.raises(ValidationFailed) as update:
        lw.update_sample(
            sample.id,
            changes={"type": None, "location": "", "status": None, "latitude": "north"},
        )
    assert set(update.value.field_errors) == {"type", "location", "status", "latitude"}
    assert len(lw.audit()) == before + 1  # only the successful create


def test_result_validation_reports_every_field_at_once(lw: LabWorld) -> None:
    sample = lw.create_sample()
    before = len(lw.audit())
    with pytest.raises(ValidationFailed) as error:
        samples.CreateResult(lw.deps)(
            lw.tech,
            samples.CreateResultCommand(
                sample.id,
                {
                    "parameter": "unobtainium",
                    "value": "high",
                    "unit": None,
                    "qualifier": "~",
                    "detection_limit": -1,
                    "test_date": "yesterday",
                    "technician_name": "x" * 201,
                    "test_method": 42,
                },
            ),
        )
    assert set(error.value.field_errors) == {
        "parameter",
        "value",
        "unit",
        "qualifier",
        "detection_limit",
        "test_date",
        "technician_name",
        "test_method",
    }
    with pytest.raises(ValidationFailed) as missing:
        samples.CreateResult(lw.deps)(lw.tech, samples.CreateResultCommand(sample.id, {}))
    assert set(missing.value.field_errors) == {"parameter", "value", "unit", "test_date"}
    # unit and plausibility are judged together with the other fields, not one round later
    for reading, fields in (
        ({"parameter": "nitrate", "value": 10, "unit": "NTU"}, {"unit", "test_date", "notes"}),
        ({"parameter": "ph", "value": 15, "unit": "pH"}, {"value", "test_date", "notes"}),
        ({"parameter": "e_coli", "value": 3, "unit": "CFU/100mL"}, {"value", "test_date", "notes"}),
    ):
        with pytest.raises(ValidationFailed) as together:
            samples.CreateResult(lw.deps)(
                lw.tech,
                samples.CreateResultCommand(sample.id, {**reading, "notes": 7}),
            )
        assert set(together.value.field_errors) == fields
    assert changed_nothing(lw, before)


# --- units, plausibility, presence/absence -----------------------------------------------


def test_mg_per_litre_converts_to_micrograms(lw: LabWorld) -> None:
    sample = lw.create_sample()
    arsenic = lw.add_result(sample.id, "arsenic", 0.012, "mg/L")
    assert arsenic.unit == "µg/L" and arsenic.value == pytest.approx(12)
    assert arsenic.compliance_status == "fail"
    assert {e["standard"]: e["outcome"] for e in arsenic.evaluations} == {WHO: "fail", NM: "fail"}
    ascii_spelling = lw.add_result(sample.id, "lead", 2, "ug/L", qualifier="<", detection_limit=1)
    assert ascii_spelling.unit == "µg/L" and ascii_spelling.compliance_status == "pass"
    below = lw.add_result(sample.id, "cadmium", 0.001, "mg/L", qualifier="<", detection_limit=0.005)
    # the detection limit converts too: 5 µg/L is above the 3 µg/L limit, so it cannot pass
    assert below.detection_limit == pytest.approx(5) and below.compliance_status == "warning"
    nitrate_in_micrograms = lw.add_result(sample.id, "nitrate", 45_000, "µg/L")
    assert nitrate_in_micrograms.unit == "mg/L" and nitrate_in_micrograms.value == 45
    conductivity = lw.add_result(sample.id, "conductivity", 500, "uS/cm")
    assert conductivity.unit == "µS/cm"
    temperature = lw.add_result(sample.id, "temperature", 14, "degC")
    assert temperature.unit == "°C"
    assert lw.stored_result(arsenic.id).value == pytest.approx(12)


@pytest.mark.parametrize(
    ("parameter", "value", "unit", "field"),
    [
        ("nitrate", 10, "NTU", "unit"),
        ("arsenic", 5, "mg/kg", "unit"),
        ("ph", 7, "mg/L", "unit"),
        ("ph", 15, "pH", "value"),
        ("nitrate", -1, "mg/L", "value"),
        ("temperature", 120, "°C", "value"),
        ("arsenic", 200, "mg/L", "value"),  # 200,000 µg/L after conversion
        ("e_coli", 2, "CFU/100mL", "value"),
        ("e_coli", 0.5, "CFU/100mL", "value"),
    ],
)
def test_unusable_measurements_are_field_errors(
    lw: LabWorld, parameter: str, value: float, unit: str, field: str
) -> None:
    sample = lw.create_sample()
    before = len(lw.audit())
    with pytest.raises(ValidationFailed) as error:
        lw.add_result(sample.id, parameter, value, unit)
    assert list(error.value.field_errors) == [field]
    assert changed_nothing(lw, before)
    assert lw.get_sample(sample.id).compliance_status == "pending"


def test_presence_absence(lw: LabWorld) -> None:
    sample = lw.create_sample()
    absent = lw.add_result(sample.id, "e_coli", 0, "CFU/100mL")
    assert absent.compliance_status == "pass"
    present = lw.add_result(sample.id, "total_coliforms", 1, "cfu/100ml")
    assert present.compliance_status == "fail" and present.unit == "CFU/100mL"
    assert lw.get_sample(sample.id).compliance_status == "fail"


# --- evaluations and the sample's status ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "who", "nm", "status"),
    [
        (30, "pass", "pass", "pass"),
        (40, "warning", "warning", "warning"),  # exactly 80 % of the 50 mg/L health limit
        (50, "warning", "warning", "warning"),
        (50.5, "fail", "fail", "fail"),
    ],
)
def test_evaluations_are_stored_per_standard(
    lw: LabWorld, value: float, who: str, nm: str, status: str
) -> None:
    sample = lw.create_sample()
    result = lw.add_result(sample.id, "nitrate", value, "mg/L")
    assert result.compliance_status == status
    assert result.evaluations == [
        {
            "standard": NM,
            "min": None,
            "max": 50,
            "recommended_max": None,
            "basis": "health",
            "outcome": nm,
        },
        {
            "standard": WHO,
            "min": None,
            "max": 50,
            "recommended_max": None,
            "basis": "health",
            "outcome": who,
        },
    ]
    assert lw.stored_result(result.id).evaluations == result.evaluations


def test_standards_can_disagree(lw: LabWorld) -> None:
    sample = lw.create_sample()
    # chloride 500 mg/L: above WHO's aesthetic 250 (warning), above NM's VMR 300 (warning)
    chloride = lw.add_result(sample.id, "chloride", 500, "mg/L")
    assert {e["standard"]: e["outcome"] for e in chloride.evaluations} == {
        WHO: "warning",
        NM: "warning",
    }
    # turbidity 6 NTU: WHO aesthetic 5 warns, the NM VMA 5 is binding
    turbidity = lw.add_result(sample.id, "turbidity", 6, "NTU")
    assert {e["standard"]: e["outcome"] for e in turbidity.evaluations} == {
        WHO: "warning",
        NM: "fail",
    }
    assert turbidity.compliance_status == "fail"
    # pH both sides of the operational range
    assert lw.add_result(sample.id, "ph", 6.4, "pH").compliance_status == "fail"
    assert lw.add_result(sample.id, "ph", 7.2, "pH").compliance_status == "pass"


def sample_updates(lw: LabWorld, sample_id: UUID) -> list[tuple[Any, Any]]:
    return [
        (e.old_values["compliance_status"], e.new_values["compliance_status"])
        for e in lw.entries_for(sample_id)
        if e.action is AuditAction.UPDATE
        and e.new_values is not None
        and e.old_values is not None
        and "compliance_status" in e.new_values
    ]


def test_sample_status_follows_its_results(lw: LabWorld) -> None:
    sample = lw.create_sample()
    assert sample.compliance_status == "pending" and sample.version == 1
    passing = lw.add_result(sample.id, "nitrate", 10)
    assert lw.get_sample(sample.id).compliance_status == "pass"
    warning = lw.add_result(sample.id, "nitrite", 2.5)  # 83 % of WHO's 3 mg/L; NM 0.5 fails
    assert warning.compliance_status == "fail"
    assert lw.get_sample(sample.id).compliance_status == "fail"
    lw.update_result(warning.id, changes={"value": 0.45})  # 90 % of NM's 0.5: warning
    assert lw.get_result(warning.id).compliance_status == "warning"
    assert lw.get_sample(sample.id).compliance_status == "warning"
    same = lw.add_result(sample.id, "nitrate", 20)  # no status change: no sample update
    lw.delete_result(warning.id)
    assert lw.get_sample(sample.id).compliance_status == "pass"
    lw.delete_result(passing.id)
    lw.delete_result(same.id)
    final = lw.get_sample(sample.id)
    assert final.compliance_status == "pending" and final.results == []
    assert sample_updates(lw, sample.id) == [
        ("pending", "pass"),
        ("pass", "fail"),
        ("fail", "warning"),
        ("warning", "pass"),
        ("pass", "pending"),
    ]
    assert final.version == 6  # one new version per status change, none otherwise
    refreshes = [e for e in lw.entries_for(sample.id) if e.action is AuditAction.UPDATE]
    assert all(
        e.reason == "unit test" and e.user_id == lw.tech.principal.user_id for e in refreshes
    )


def test_sample_delete_tombstones_its_results(lw: LabWorld) -> None:
    sample = lw.create_sample()
    kept = lw.create_sample(location="Other well")
    results = [lw.add_result(sample.id, "nitrate", v) for v in (10, 60)]
    lw.add_result(kept.id)
    version = lw.get_sample(sample.id).version
    lw.delete_sample(sample.id)
    with pytest.raises(NotFound):
        lw.get_sample(sample.id)
    with pytest.raises(NotFound):
        samples.ListResults(lw.deps)(lw.tech, sample.id)
    for result in results:
        with pytest.raises(NotFound):
            lw.get_result(result.id)
        stored = lw.stored_result(result.id)
        assert stored is not None and stored.deleted_at is not None
        assert stored.version == 2
        assert [e.action for e in lw.entries_for(result.id)] == [
            AuditAction.CREATE,
            AuditAction.DELETE,
        ]
    tombstone = lw.stored_sample(sample.id)
    assert tombstone is not None and tombstone.deleted_at is not None
    assert tombstone.version == version + 1
    delete = lw.entries_for(sample.id)[-1]
    assert delete.action is AuditAction.DELETE and delete.new_values is None
    assert delete.old_values is not None and delete.old_values["version"] == version
    assert [s.id for s in lw.list_samples()] == [kept.id]
    assert lw.get_sample(kept.id).compliance_status == "pass"
    for attempt in (
        lambda: lw.delete_sample(sample.id),
        lambda: lw.update_sample(sample.id, changes={"notes": "x"}),
        lambda: lw.add_result(sample.id),
        lambda: lw.delete_result(results[0].id),
        lambda: lw.update_result(results[0].id, changes={"value": 1.0}),
    ):
        with pytest.raises(NotFound):
            attempt()


def test_deleted_result_is_a_tombstone(lw: LabWorld) -> None:
    sample = lw.create_sample()
    result = lw.add_result(sample.id)
    lw.delete_result(result.id, if_match=1)
    with pytest.raises(NotFound):
        lw.get_result(result.id)
    stored = lw.stored_result(result.id)
    assert stored.deleted_at is not None and stored.version == 2
    assert lw.get_sample(sample.id).results == []


# --- versions ----------------------------------------------------------------------------


def test_sample_versions_and_preconditions(lw: LabWorld) -> None:
    sample = lw.create_sample()
    lw.world.clock.advance(timedelta(minutes=5))
    updated = lw.update_sample(sample.id, changes={"notes": "turbid"}, if_match=1)
    assert updated.version == 2 and updated.updated_at > sample.updated_at
    assert lw.update_sample(sample.id, changes={"notes": "turbid"}).version == 2  # no-op
    before = len(lw.audit())
    with pytest.raises(PreconditionFailed):
        lw.update_sample(sample.id, changes={"notes": "x"}, if_match=1)
    with pytest.raises(VersionConflict) as conflict:
        lw.update_sample(sample.id, changes={"notes": "x"}, expected_version=1)
    assert conflict.value.details == {"current_version": 2}
    with pytest.raises(PreconditionFailed):
        lw.delete_sample(sample.id, if_match=1)
    assert changed_nothing(lw, before)
    again = lw.update_sample(
        sample.id, changes={"location": " Well 4 ", "type": "ground"}, expected_version=2
    )
    assert (again.version, again.location, again.type) == (3, "Well 4", "ground")
    entry = lw.entries_for(sample.id)[-1]
    assert entry.action is AuditAction.UPDATE
    assert entry.old_values == {
        "location": "Bouskoura well 3",
        "type": "drinking",
        "version": 2,
    }
    assert entry.new_values == {"location": "Well 4", "type": "ground", "version": 3}
    lw.delete_sample(sample.id, if_match=3)


def test_result_versions_and_preconditions(lw: LabWorld) -> None:
    sample = lw.create_sample()
    result = lw.add_result(sample.id, "nitrate", 10)
    with pytest.raises(PreconditionFailed):
        lw.update_result(result.id, changes={"value": 11.0}, if_match=2)
    with pytest.raises(VersionConflict):
        lw.update_result(result.id, changes={"value": 11.0}, expected_version=3)
    with pytest.raises(PreconditionFailed):
        lw.delete_result(result.id, if_match=5)
    updated = lw.update_result(result.id, changes={"value": 11.0, "notes": "re-run"}, if_match=1)
    assert updated.version == 2 and updated.notes == "re-run"
    assert lw.update_result(result.id, changes={"value": 11.0}).version == 2  # no-op
    converted = lw.update_result(result.id, changes={"value": 60_000, "unit": "ug/L"})
    assert (converted.value, converted.unit, converted.compliance_status) == (60, "mg/L", "fail")
    assert [e.action for e in lw.entries_for(result.id)] == [
        AuditAction.CREATE,
        AuditAction.UPDATE,
        AuditAction.UPDATE,
    ]
    with pytest.raises(ValidationFailed) as error:
        lw.update_result(result.id, changes={"unit": "NTU"})
    assert list(error.value.field_errors) == ["unit"]
    assert lw.get_result(result.id).version == 3


# --- limits --------------------------------------------------------------------------------


def test_limit_edit_without_reevaluation_keeps_history(lw: LabWorld) -> None:
    sample = lw.create_sample()
    old = lw.add_result(sample.id, "nitrate", 30)
    assert old.compliance_status == "pass"
    before = len(lw.audit())
    change = lw.put_limit(WHO, "nitrate", max=25, source="lab decision")
    assert change.limit.max == 25 and change.limit.version == 2 and not change.created
    assert (change.reevaluated_results, change.changed_results, change.changed_samples) == (
        0,
        0,
        0,
    )
    new = lw.audit()[before:]
    assert [(e.entity_type, e.entity_id, e.action) for e in new] == [
        (AuditEntityType.STANDARD_LIMIT, f"{WHO}/nitrate", AuditAction.UPDATE)
    ]
    assert new[0].old_values is not None and new[0].old_values["max"] == 50
    assert new[0].old_values["version"] == 1
    assert new[0].new_values == {"max": 25, "source": "lab decision", "version": 2}
    assert new[0].reason == "admin correction"
    stored = lw.get_result(old.id)
    assert stored == old  # judged with the limit of its day
    assert lw.get_sample(sample.id).compliance_status == "pass"
    fresh = lw.add_result(sample.id, "nitrate", 30)  # new results use the new limit
    who = next(e for e in fresh.evaluations if e["standard"] == WHO)
    assert who["max"] == 25 and who["outcome"] == "fail"


def test_limit_edit_with_reevaluation_is_audited_per_change(lw: LabWorld) -> None:
    changing = lw.create_sample(location="Well A")
    steady = lw.create_sample(location="Well B")
    other_lab = lw.create_sample(lw.other_tech, location="Rabat")
    r1 = lw.add_result(changing.id, "nitrate", 30)  # pass → fail under max 25
    r2 = lw.add_result(steady.id, "nitrate", 10)  # still pass, but judged with the new limit
    r3 = lw.add_result(other_lab.id, "nitrate", 21, who=lw.other_tech)  # pass → warning
    lw.add_result(steady.id, "arsenic", 1, "µg/L")  # another parameter: untouched
    gone = lw.add_result(changing.id, "nitrate", 45)
    lw.delete_result(gone.id)  # tombstones are not re-judged
    before = len(lw.audit())
    change = lw.put_limit(WHO, "nitrate", max=25, reevaluate=True)
    assert (change.reevaluated_results, change.changed_results, change.changed_samples) == (
        3,
        3,
        2,
    )
    entries = lw.audit()[before:]
    assert {(e.entity_type, e.entity_id, e.action) for e in entries} == {
        (AuditEntityType.STANDARD_LIMIT, f"{WHO}/nitrate", AuditAction.UPDATE),
        (AuditEntityType.RESULT, str(r1.id), AuditAction.UPDATE),
        (AuditEntityType.RESULT, str(r2.id), AuditAction.UPDATE),
        (AuditEntityType.RESULT, str(r3.id), AuditAction.UPDATE),
        (AuditEntityType.SAMPLE, str(changing.id), AuditAction.UPDATE),
        (AuditEntityType.SAMPLE, str(other_lab.id), AuditAction.UPDATE),
    }
    assert len(entries) == 6  # the steady sample's status did not change: no entry
    result_entry = next(e for e in entries if e.entity_id == str(r1.id))
    assert result_entry.old_values is not None and result_entry.new_values is not None
    assert result_entry.old_values["compliance_status"] == "pass"
    assert result_entry.new_values["compliance_status"] == "fail"
    assert result_entry.new_values["version"] == 2 and "evaluations" in result_entry.new_values
    assert all(e.user_id == lw.admin.principal.user_id for e in entries)
    assert all(e.reason == "admin correction" for e in entries)
    assert lw.get_result(r1.id).compliance_status == "fail"
    steady_result = lw.get_result(r2.id)
    assert steady_result.compliance_status == "pass" and steady_result.version == 2
    assert next(e for e in steady_result.evaluations if e["standard"] == WHO)["max"] == 25
    assert next(e for e in steady_result.evaluations if e["standard"] == NM)["max"] == 50
    assert lw.get_result(r3.id, lw.other_tech).compliance_status == "warning"
    assert lw.get_sample(changing.id).compliance_status == "fail"
    assert lw.get_sample(steady.id).compliance_status == "pass"
    assert lw.get_sample(other_lab.id, lw.other_tech).compliance_status == "warning"
    assert lw.stored_result(gone.id).version == 2  # the tombstone stays as it was
    again = lw.put_limit(WHO, "nitrate", max=25, reevaluate=True)  # nothing left to change
    assert (again.limit.version, again.changed_results) == (2, 0)
    assert len(lw.audit()) == before + 6


def test_new_limit_is_created_and_audited(lw: LabWorld) -> None:
    change = lw.put_limit(WHO, "conductivity", max=2500, basis=Basis.AESTHETIC)
    assert change.created and change.limit.version == 1
    entry = lw.audit()[-1]
    assert (entry.entity_type, entry.entity_id, entry.action) == (
        AuditEntityType.STANDARD_LIMIT,
        f"{WHO}/conductivity",
        AuditAction.CREATE,
    )
    limits = reference.GetStandard(lw.ref)(lw.viewer, WHO).limits
    assert any(limit.parameter == "conductivity" and limit.max == 2500 for limit in limits)


def test_limit_edits_are_checked(lw: LabWorld) -> None:
    before = len(lw.audit())
    with pytest.raises(Forbidden):
        lw.put_limit(WHO, "nitrate", lw.tech, max=10)
    with pytest.raises(NotFound):
        lw.put_limit("EU-98-83", "nitrate", max=10)
    with pytest.raises(NotFound):
        lw.put_limit(WHO, "unobtainium", max=10)
    with pytest.raises(ValidationFailed) as error:
        lw.put_limit(WHO, "ph", min=9, max=8, recommended_max=8.5)
    assert set(error.value.field_errors) == {"min", "recommended_max"}
    with pytest.raises(ValidationFailed):
        lw.put_limit(WHO, "ph")
    with pytest.raises(PreconditionFailed):
        lw.put_limit(WHO, "nitrate", max=45, if_match=2)
    with pytest.raises(VersionConflict):
        lw.put_limit(WHO, "nitrate", max=45, expected_version=2)
    assert changed_nothing(lw, before)
    assert lw.put_limit(WHO, "nitrate", max=45, expected_version=1).limit.version == 2


def test_parameters_are_admin_only_and_audited(lw: LabWorld) -> None:
    create = reference.CreateParameter(lw.ref)
    update = reference.UpdateParameter(lw.ref)
    command = reference.CreateParameterCommand(
        code="boron", name="Boron", unit="mg/l", min_value=0, max_value=100
    )
    before = len(lw.audit())
    for who in (lw.tech, lw.viewer):
        with pytest.raises(Forbidden):
            create(who, command)
        with pytest.raises(Forbidden):
            update(
                who,
                reference.UpdateParameterCommand(
                    parameter_id("ph"), name="pH", min_value=0, max_value=14
                ),
            )
    assert changed_nothing(lw, before)
    boron = create(lw.admin, command)
    assert (boron.unit, boron.kind) == ("mg/L", ParameterKind.NUMERIC)
    with pytest.raises(Conflict):
        create(lw.admin, command)
    with pytest.raises(ValidationFailed) as error:
        create(
            lw.admin,
            reference.CreateParameterCommand(
                code="Bad Code", name="", unit="mg/L", min_value=5, max_value=1
            ),
        )
    assert set(error.value.field_errors) == {"code", "name", "max_value"}
    narrowed = update(
        lw.admin,
        reference.UpdateParameterCommand(boron.id, name="Boron", min_value=0, max_value=50),
    )
    assert narrowed.version == 2
    with pytest.raises(VersionConflict):
        update(
            lw.admin,
            reference.UpdateParameterCommand(
                boron.id, name="Boron", min_value=0, max_value=40, expected_version=1
            ),
        )
    entries = [e for e in lw.audit()[before:]]
    assert [(e.entity_type, e.entity_id, e.action) for e in entries] == [
        (AuditEntityType.PARAMETER, "boron", AuditAction.CREATE),
        (AuditEntityType.PARAMETER, "boron", AuditAction.UPDATE),
    ]
    sample = lw.create_sample()
    with pytest.raises(ValidationFailed) as implausible:
        lw.add_result(sample.id, "boron", 60, "mg/L")
    assert list(implausible.value.field_errors) == ["value"]
    result = lw.add_result(sample.id, "boron", 0.4, "mg/L")
    assert result.compliance_status == "pass" and result.evaluations == []  # no limit yet
