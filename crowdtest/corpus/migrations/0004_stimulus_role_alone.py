"""A stimulus's part in the test is one field, `role`: `selected` (kept after equalising
clusters) becomes a column the database derives from it."""

from django.db import migrations, models


def carry_selected_into_role(apps, schema_editor):
    Stimulus = apps.get_model("corpus", "Stimulus")
    Stimulus.objects.filter(selected=True).update(role="rated")
    Stimulus.objects.filter(selected=False, role="rated").update(role="unused")


def restore_selected(apps, schema_editor):
    Stimulus = apps.get_model("corpus", "Stimulus")
    Stimulus.objects.update(selected=False)
    Stimulus.objects.filter(role="rated").update(selected=True)


class Migration(migrations.Migration):

    dependencies = [
        ("corpus", "0003_stimulus_role_training"),
    ]

    operations = [
        migrations.RunPython(carry_selected_into_role, restore_selected),
        migrations.RemoveIndex(
            model_name="stimulus",
            name="corpus_stim_experim_15e873_idx",
        ),
        migrations.RemoveField(
            model_name="stimulus",
            name="selected",
        ),
        migrations.AlterField(
            model_name="stimulus",
            name="role",
            field=models.CharField(
                choices=[
                    ("rated", "rated"),
                    ("trap_source", "trap source"),
                    ("gold", "gold stimulus"),
                    ("training", "training stimulus"),
                    ("unused", "not used"),
                ],
                default="unused",
                help_text="Its part in the test: rated (kept after equalising clusters), a "
                "trap source, a gold stimulus, a training stimulus, or not used",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="stimulus",
            name="selected",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.ExpressionWrapper(
                    models.Q(("role", "rated")), output_field=models.BooleanField()
                ),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="stimulus",
            index=models.Index(
                fields=["experiment", "role", "cluster"], name="corpus_stim_experim_c16795_idx"
            ),
        ),
    ]
