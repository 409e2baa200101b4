"""The in-app help says what entry refuses and asks to confirm, from the live settings."""

from decimal import Decimal

import pytest
from django.urls import reverse

from pumps.models import Drug

pytestmark = pytest.mark.django_db

URL = reverse("pumps:help_entry_safety")


def test_the_help_page_lists_refusals_confirmations_and_the_shipped_ranges(nurse_client):
    page = nurse_client.get(URL).content.decode()
    assert "Refused: nothing is saved" in page
    assert "Asks you to confirm" in page
    assert "50 to 4000 mcg/mL" in page  # baclofen, clinical-rules.md 2
    assert "500 to 50000 mcg/mL" in page  # morphine 0.5 to 50 mg/mL
    assert "1 mL</td>" in page  # the threshold of 20 mL pumps
    assert "1.5 mL</td>" in page  # the Codman's
    assert "<kbd>12,5</kbd> is 12.5" in page


def test_a_range_widened_by_an_administrator_shows_at_once(nurse_client):
    Drug.objects.filter(code="clonidine").update(concentration_max_mcg_per_ml=Decimal("5000"))
    assert "50 to 5000 mcg/mL" in nurse_client.get(URL).content.decode()


def test_the_help_page_needs_a_signed_in_user(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
