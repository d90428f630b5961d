"""Items and votes on a gold clip point at its GoldClip (design 0007 copied each gold
Trap row there under the same id) instead of the Trap row."""

import django.db.models.deletion
from django.db import migrations, models

ONE_CLIP = models.Q(
    models.Q(
        ("comparison__isnull", True),
        ("gold__isnull", True),
        ("stimulus__isnull", False),
        ("trap__isnull", True),
    ),
    models.Q(
        ("comparison__isnull", True),
        ("gold__isnull", True),
        ("stimulus__isnull", True),
        ("trap__isnull", False),
    ),
    models.Q(
        ("comparison__isnull", True),
        ("gold__isnull", False),
        ("stimulus__isnull", True),
        ("trap__isnull", True),
    ),
    models.Q(
        ("comparison__isnull", False),
        ("gold__isnull", True),
        ("stimulus__isnull", True),
        ("trap__isnull", True),
    ),
    _connector="OR",
)


def constraints_immediate(schema_editor, immediate):
    """On PostgreSQL, foreign keys checked at once while rows move (and deferred again
    after): a check left pending would refuse the ALTER TABLE that follows."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"SET CONSTRAINTS ALL {'IMMEDIATE' if immediate else 'DEFERRED'}")


def _items_and_votes_to_gold(apps, schema_editor):
    Trap = apps.get_model("design", "Trap")
    gold = list(Trap.objects.filter(kind="gold").values_list("id", flat=True))
    for name in ("AssignmentItem", "Vote"):
        apps.get_model("rating", name).objects.filter(trap_id__in=gold).update(
            gold_id=models.F("trap_id"), trap=None
        )


def _items_and_votes_to_traps(apps, schema_editor):
    """Back: to the Trap row of each gold clip, found by its media key (design 0008 going
    back made it)."""
    Trap = apps.get_model("design", "Trap")
    GoldClip = apps.get_model("design", "GoldClip")
    traps = dict(Trap.objects.filter(kind="gold").values_list("media_key", "id"))
    for clip in GoldClip.objects.all():
        for name in ("AssignmentItem", "Vote"):
            apps.get_model("rating", name).objects.filter(gold_id=clip.id).update(
                trap_id=traps[clip.media_key], gold=None
            )


def items_and_votes_to_gold(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _items_and_votes_to_gold(apps, schema_editor)
    constraints_immediate(schema_editor, False)


def items_and_votes_to_traps(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _items_and_votes_to_traps(apps, schema_editor)
    constraints_immediate(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [
        ("design", "0007_gold_clips"),
        ("rating", "0010_comparison_votes"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="assignmentitem", name="assignment_item_one_clip"),
        migrations.AddField(
            model_name="assignmentitem",
            name="gold",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="design.goldclip",
            ),
        ),
        migrations.AddField(
            model_name="vote",
            name="gold",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="votes",
                to="design.goldclip",
            ),
        ),
        migrations.RunPython(items_and_votes_to_gold, items_and_votes_to_traps),
        migrations.AddConstraint(
            model_name="assignmentitem",
            constraint=models.CheckConstraint(condition=ONE_CLIP, name="assignment_item_one_clip"),
        ),
    ]
