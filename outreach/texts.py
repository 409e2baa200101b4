"""The words of a message (issue 15, item 2): a template with four placeholders,
the clinic's name and phone, the date and the time. Nothing else can be put in:
never the drug, the dose, the diagnosis or even the patient's name."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from outreach.choices import Channel, MessageKind
from outreach.models import MessageTemplate

PLACEHOLDERS = ("clinic_name", "clinic_phone", "date", "time")

DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    (MessageKind.VISIT_REMINDER, Channel.SMS): (
        "",
        "{clinic_name}: reminder of your visit on {date} at {time}. "
        "To change it, call {clinic_phone}. Reply STOP to opt out.",
    ),
    (MessageKind.VISIT_REMINDER, Channel.EMAIL): (
        "Your visit on {date}",
        "Hello,\n\nThis is a reminder of your visit at {clinic_name} on {date} at {time}.\n"
        "If you cannot come, please call us on {clinic_phone}.\n\n{clinic_name}",
    ),
    (MessageKind.REFILL_CALL, Channel.SMS): (
        "",
        "{clinic_name}: it is time to book your next visit. "
        "Please call us on {clinic_phone}. Reply STOP to opt out.",
    ),
    (MessageKind.REFILL_CALL, Channel.EMAIL): (
        "Please call us to book your visit",
        "Hello,\n\nIt is time to book your next visit at {clinic_name}.\n"
        "Please call us on {clinic_phone}.\n\n{clinic_name}",
    ),
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


def template_refusal(text: str) -> str | None:
    """Why ``text`` cannot be a template (unknown placeholder, bad braces), or None."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        return f"the braces do not match ({error}); write {{{{ and }}}} for a brace"
    unknown = sorted({name for name in fields if name not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        return (
            f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)}: use only {allowed}"
        )
    return None


def validate_template(subject: str, body: str) -> None:
    errors = {}
    for field, text in (("subject", subject), ("body", body)):
        if refusal := template_refusal(text):
            errors[field] = f"The {field} cannot be used: {refusal}."
    if not body.strip():
        errors["body"] = "Write the message."
    if errors:
        raise ValidationError(errors)


def values_for(at: datetime | None) -> dict[str, str]:
    local = timezone.localtime(at) if at is not None else None
    return {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "date": local.strftime("%A %-d %B %Y") if local else "",
        "time": local.strftime("%H:%M") if local else "",
    }


def approved_template(kind: str, channel: str, language: str) -> tuple[str, str]:
    """The approved template's subject and body, else the built-in default."""
    for lang in dict.fromkeys([language, "en"]):
        template = MessageTemplate.objects.filter(kind=kind, channel=channel, language=lang).first()
        if template is not None and template.is_approved:
            return template.subject, template.body
    return DEFAULTS[(kind, channel)]


def render_text(subject: str, body: str, at: datetime | None) -> Rendered:
    values = values_for(at)
    return Rendered(subject=subject.format(**values).strip(), text=body.format(**values).strip())


def render(kind: str, channel: str, language: str, at: datetime | None) -> Rendered:
    subject, body = approved_template(kind, channel, language)
    return render_text(subject, body, at)


FORBIDDEN_WORDS = ("mg", "mcg", "microgram", "milligram", "dose", "diagnosis", "ml")


def clinical_words(text: str) -> list[str]:
    """Drug names and codes of the catalogue, dose units and clinical words found in
    ``text``: a template must hold none of them (the message is read by whoever
    holds the phone)."""
    import re

    from pumps.models import Drug

    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    lowered = text.lower()
    found = [word for word in FORBIDDEN_WORDS if word in words]
    for name, code in Drug.objects.values_list("name", "code"):
        for term in {name.lower(), code.lower()}:
            if term and re.search(rf"\b{re.escape(term)}\b", lowered):
                found.append(term)
    return sorted(set(found))


def check_template(subject: str, body: str) -> None:
    """The checks every template edit passes (the admin's form calls this)."""
    validate_template(subject, body)
    if found := clinical_words(f"{subject}\n{body}"):
        raise ValidationError(
            {
                "body": "A message may hold only the clinic's name and phone, the date and "
                f"the time: remove {', '.join(found)}."
            }
        )


def sample_moment() -> datetime:
    """The date and time a preview shows: next week's Tuesday at 09:30, clinic time."""
    from datetime import timedelta

    today = timezone.localdate()
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return timezone.make_aware(
        datetime.combine(tuesday, datetime.min.time().replace(hour=9, minute=30))
    )


def approve(template: MessageTemplate, user: object) -> MessageTemplate:
    """The administrator saw the preview and uses this text from now on."""
    check_template(template.subject, template.body)
    template.approved_hash = template.content_hash()
    template.approved_by = user  # type: ignore[assignment]
    template.approved_at = timezone.now()
    template.save(update_fields=["approved_hash", "approved_by", "approved_at"])
    return template
