from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from taichu.backups.s3 import S3Client, S3Config
from taichu.config import BackupSettings, Settings
from tests.backups.minio import ACCESS_KEY, SECRET_KEY, Minio, start_minio


@pytest.fixture(scope="session")
def minio(lab_session: None) -> Iterator[Minio]:
    server = start_minio()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


async def s3_settings(minio: Minio, **extra: Any) -> BackupSettings:
    """S3 settings on a new bucket of the test MinIO."""
    bucket = f"taichu-{uuid.uuid4().hex[:12]}"
    client = S3Client(S3Config(minio.endpoint, "us-east-1", ACCESS_KEY, SECRET_KEY))
    try:
        await client.create_bucket(bucket)
    finally:
        await client.close()
    return BackupSettings(
        storage="s3",
        s3_endpoint=minio.endpoint,
        s3_bucket=bucket,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_part_size_mb=5,
        **extra,
    )


@pytest.fixture
async def backups_config(request: pytest.FixtureRequest) -> BackupSettings:
    """Local storage unless a test parametrizes it (indirect) with "s3"."""
    backend = getattr(request, "param", "local")
    if backend == "s3":
        return await s3_settings(request.getfixturevalue("minio"))
    return BackupSettings()


@pytest.fixture
def settings(make_settings: Any, backups_config: BackupSettings) -> Settings:
    return make_settings(backups=backups_config)


both_backends = pytest.mark.parametrize("backups_config", ["local", "s3"], indirect=True)
