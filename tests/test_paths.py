"""core.paths: the path of a one-id page is the string reverse gives."""

import re

import pytest
from django.conf import settings
from django.urls import clear_script_prefix, reverse, set_script_prefix

from core.paths import id_path, page_path

# The pages the worklist's rows and the patient page link to, and others of one id.
NAMES = [
    "patients:detail",
    "pumps:log_refill",
    "patients:book_visit",
    "pumps:refill_saved",
    "patients:contact_attempt",
    "patients:entered_in_error",
    "patients:restore_record",
    "patients:timeline",
    "patients:summary",
    "outreach:patient_messages",
    "patients:record_mri",
    "patients:record_complication",
    "pumps:explant",
    "pumps:implant",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pk", [0, 1, 7, 42, 918273645, 10**12])
def test_the_path_is_reverses(name, pk):
    assert id_path(name, pk) == reverse(name, args=[pk])


@pytest.mark.parametrize("prefix", ["/", "/clinic/"])
def test_the_script_prefix_is_the_requests(prefix):
    set_script_prefix(prefix)
    try:
        assert id_path("patients:detail", 5) == reverse("patients:detail", args=[5])
        assert id_path("patients:detail", 5).startswith(prefix)
    finally:
        clear_script_prefix()


def test_anything_but_an_id_is_reverses_to_decide():
    from django.urls import NoReverseMatch

    with pytest.raises(NoReverseMatch):
        id_path("patients:detail", -1)
    with pytest.raises(NoReverseMatch):
        id_path("pumps:worklist", 1)  # no id in its path


# Every page the navigation bar links to (templates/base.html).
BASE = (settings.BASE_DIR / "templates" / "base.html").read_text()
NAV = re.findall(r"{% page_url '([a-z_:]+)' %}", BASE)


def test_the_navigation_links_through_page_url():
    assert len(NAV) >= 15
    assert "{% url " not in BASE


@pytest.mark.parametrize("prefix", ["/", "/clinic/"])
@pytest.mark.parametrize("name", sorted(set(NAV)))
def test_a_page_path_is_reverses_under_each_prefix(name, prefix):
    set_script_prefix(prefix)
    try:
        assert page_path(name) == reverse(name)
        assert page_path(name).startswith(prefix)
    finally:
        clear_script_prefix()
