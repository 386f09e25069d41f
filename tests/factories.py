"""factory-boy factories that build *domain* objects, so both adapters can store them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import factory

from domain.compliance import ComplianceStatus
from domain.lab_data import Sample, SampleStatus, SampleType, TestResult
from domain.model import Lab, User
from domain.roles import Role

T0 = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)

# Hash of "Passw0rd!" with argon2id at 1 MiB / t=1 (the test hasher's settings).
DEFAULT_PASSWORD = "Passw0rd!"


class LabFactory(factory.Factory):
    class Meta:
        model = Lab

    id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"Lab {n:03d}")
    code = factory.Sequence(lambda n: f"L{n:03d}")
    created_at = T0
    updated_at = T0
    version = 1


class UserFactory(factory.Factory):
    class Meta:
        model = User

    id = factory.LazyFunction(uuid.uuid4)
    email = factory.Sequence(lambda n: f"user{n:04d}@lab.example")
    name = factory.Sequence(lambda n: f"User {n:04d}")
    role = Role.TECHNICIAN
    lab_id = None
    password_hash = "not-a-real-hash"
    created_at = T0
    updated_at = T0
    is_active = True
    version = 1


# --- lab data (lab_id / sample_id have no default: name the stored lab and sample) ---


class SampleFactory(factory.Factory):
    class Meta:
        model = Sample

    id = factory.LazyFunction(uuid.uuid4)
    type = SampleType.DRINKING
    location = factory.Sequence(lambda n: f"Site {n:04d}")
    collection_date = T0
    collector_name = factory.Sequence(lambda n: f"Collector {n:04d}")
    created_at = T0
    updated_at = T0
    status = SampleStatus.COLLECTED
    compliance_status = ComplianceStatus.PENDING
    version = 1


class ResultFactory(factory.Factory):
    class Meta:
        model = TestResult

    id = factory.LazyFunction(uuid.uuid4)
    parameter = "nitrate"
    value = 12.5
    unit = "mg/L"
    test_date = T0
    created_at = T0
    updated_at = T0
    compliance_status = ComplianceStatus.PASS
    evaluations = factory.LazyFunction(list)
    version = 1
