"""A stimulus's part in the test is `role` alone: the read-only `selected` copy of
`role == "rated"` goes (the stimuli export computes its `selected` column from the role)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('corpus', '0005_track_versions'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='stimulus',
            name='selected',
        ),
    ]
