from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("corpus", "0001_initial"),
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="modelrun",
            name="model_run_experiment_unless_pretrain",
        ),
        migrations.AlterField(
            model_name="modelrun",
            name="kind",
            field=models.CharField(
                choices=[
                    ("crossval", "cross-validation"),
                    ("final", "final model"),
                    ("pretrain", "pre-training"),
                    ("imported", "imported checkpoint"),
                ],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="modelrun",
            name="experiment",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty only for a pre-training or an import not tied to an experiment",
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="model_runs",
                to="corpus.experiment",
            ),
        ),
        migrations.AddConstraint(
            model_name="modelrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("kind__in", ("pretrain", "imported")),
                    ("experiment__isnull", False),
                    _connector="OR",
                ),
                name="model_run_experiment_unless_pretrain_or_imported",
            ),
        ),
    ]
