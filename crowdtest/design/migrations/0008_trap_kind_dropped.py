"""The gold Trap rows, copied into GoldClip by 0007 and no longer used by any item or vote
(rating 0011), are deleted, and `Trap.kind` with them: every Trap is a trap."""

from django.db import migrations, models


def constraints_immediate(schema_editor, immediate):
    """On PostgreSQL, foreign keys checked at once while rows move (and deferred again
    after): a check left pending would refuse the ALTER TABLE that follows."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"SET CONSTRAINTS ALL {'IMMEDIATE' if immediate else 'DEFERRED'}")


def _gold_traps_deleted(apps, schema_editor):
    apps.get_model("design", "Trap").objects.filter(kind="gold").delete()


def _gold_traps_made_again(apps, schema_editor):
    """Back: a Trap of kind gold for each gold clip, with its media key (its id may differ:
    traps made since took ids of their own)."""
    Trap = apps.get_model("design", "Trap")
    GoldClip = apps.get_model("design", "GoldClip")
    Trap.objects.bulk_create(
        Trap(
            kind="gold",
            experiment_id=clip.experiment_id,
            source_id=clip.source_id,
            answer=clip.answer,
            language="",
            media_key=clip.media_key,
            delivery=clip.delivery.name,
            duration_s=clip.duration_s,
        )
        for clip in GoldClip.objects.all()
    )


def gold_traps_deleted(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _gold_traps_deleted(apps, schema_editor)
    constraints_immediate(schema_editor, False)


def gold_traps_made_again(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _gold_traps_made_again(apps, schema_editor)
    constraints_immediate(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [
        ("design", "0007_gold_clips"),
        ("rating", "0011_gold_clips"),
    ]

    operations = [
        migrations.RunPython(gold_traps_deleted, gold_traps_made_again),
        migrations.RemoveField(model_name="trap", name="kind"),
        migrations.AlterField(
            model_name="trap",
            name="language",
            field=models.CharField(default="en", help_text="The message's language", max_length=8),
        ),
    ]
