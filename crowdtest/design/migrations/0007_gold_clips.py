"""Gold clips get a model of their own, GoldClip, instead of Trap rows of kind "gold".

Each gold Trap row is copied into GoldClip under the same id and media key (so rating's
migration can move its items and votes by id, and going back can find the Trap again by
its media key), and the planned sessions' items move from `trap` to `gold`. The gold Trap
rows are deleted, and `Trap.kind` dropped, by 0008 once rating's rows have moved too."""

import django.db.models.deletion
from django.core.management.color import no_style
from django.db import migrations, models

import crowdtest.corpus.models

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


def _gold_traps_to_gold_clips(apps, schema_editor):
    Trap = apps.get_model("design", "Trap")
    GoldClip = apps.get_model("design", "GoldClip")
    SessionItem = apps.get_model("design", "SessionItem")
    gold = Trap.objects.filter(kind="gold")
    GoldClip.objects.bulk_create(
        GoldClip(
            id=trap.id,
            experiment_id=trap.experiment_id,
            source_id=trap.source_id,
            answer=trap.answer,
            media_key=trap.media_key,
            delivery=trap.delivery.name,
            duration_s=trap.duration_s,
        )
        for trap in gold.iterator()
    )
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [GoldClip]):
            cursor.execute(statement)
    SessionItem.objects.filter(trap__kind="gold").update(gold_id=models.F("trap_id"), trap=None)


def _gold_clips_to_gold_traps(apps, schema_editor):
    """Back: the session items of each gold clip point at its Trap row again (found by the
    media key; 0008 going back made it)."""
    Trap = apps.get_model("design", "Trap")
    GoldClip = apps.get_model("design", "GoldClip")
    SessionItem = apps.get_model("design", "SessionItem")
    traps = dict(Trap.objects.filter(kind="gold").values_list("media_key", "id"))
    for clip in GoldClip.objects.all():
        SessionItem.objects.filter(gold_id=clip.id).update(trap_id=traps[clip.media_key], gold=None)


def gold_traps_to_gold_clips(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _gold_traps_to_gold_clips(apps, schema_editor)
    constraints_immediate(schema_editor, False)


def gold_clips_to_gold_traps(apps, schema_editor):
    constraints_immediate(schema_editor, True)
    _gold_clips_to_gold_traps(apps, schema_editor)
    constraints_immediate(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [
        ("corpus", "0006_stimulus_selected_dropped"),
        ("design", "0006_comparisons"),
    ]

    operations = [
        migrations.CreateModel(
            name="GoldClip",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "answer",
                    models.SmallIntegerField(
                        help_text="The known answer, on the test method's scale (ACR and DCR "
                        "1..5, CCR -3..+3, pairwise 1 or 2)"
                    ),
                ),
                (
                    "media_key",
                    models.CharField(
                        default=crowdtest.corpus.models.new_media_key, max_length=32, unique=True
                    ),
                ),
                ("delivery", models.FileField(max_length=300, upload_to="gold/")),
                ("duration_s", models.FloatField()),
                (
                    "experiment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="gold_clips",
                        to="corpus.experiment",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="gold_clips",
                        to="corpus.stimulus",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("source", "answer"), name="gold_clip_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("answer__gte", -3), ("answer__lte", 5)),
                        name="gold_clip_answer_on_a_scale",
                    ),
                ],
            },
        ),
        migrations.RemoveConstraint(model_name="sessionitem", name="session_item_one_clip"),
        migrations.AddField(
            model_name="sessionitem",
            name="gold",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="session_items",
                to="design.goldclip",
            ),
        ),
        migrations.RunPython(gold_traps_to_gold_clips, gold_clips_to_gold_traps),
        migrations.AddConstraint(
            model_name="sessionitem",
            constraint=models.CheckConstraint(condition=ONE_CLIP, name="session_item_one_clip"),
        ),
    ]
