"""A backup keeps each user's authenticator app and recovery codes (they reference users:
without them a restore could not empty the users table on PostgreSQL)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backup.archive import verify_backup

pytestmark = pytest.mark.django_db


def test_a_restore_brings_back_the_app_and_the_codes(
    with_app: dict[str, Any], tmp_path: Path
) -> None:
    key = with_app["device"].key
    file = tmp_path / "clinic.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    header = verify_backup(file)
    assert header["counts"]["otp_totp.totpdevice"] == 1
    assert header["counts"]["otp_static.statictoken"] == 10
    TOTPDevice.objects.all().delete()
    call_command("restore_clinic", file, "--replace", stdout=StringIO())
    assert TOTPDevice.objects.get(user__username="otp-nurse").key == key
    tokens = StaticToken.objects.filter(device__user__username="otp-nurse")
    assert {f"{t.token[:4]}-{t.token[4:]}" for t in tokens} == set(with_app["codes"])
