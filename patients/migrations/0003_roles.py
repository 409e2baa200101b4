"""Create the staff roles as groups. Administrators run the Django
admin; nurses and physicians work through the
app's own pages, whose access checks live in patients.roles."""

from django.db import migrations

ROLES = ("Nurse", "Physician", "Administrator")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
