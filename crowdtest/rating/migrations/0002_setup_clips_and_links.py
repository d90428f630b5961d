import crowdtest.rating.models
import django.db.models.deletion
from django.db import migrations, models


def fill_clip_keys(apps, schema_editor):
    Assignment = apps.get_model('rating', 'Assignment')
    for assignment in Assignment.objects.only('pk').iterator():
        Assignment.objects.filter(pk=assignment.pk).update(
            volume_clip_key=crowdtest.rating.models.new_clip_key(),
            digits_clip_key=crowdtest.rating.models.new_clip_key(),
        )


class Migration(migrations.Migration):

    dependencies = [
        ('corpus', '0001_initial'),
        ('rating', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='assignment',
            name='status',
            field=models.CharField(choices=[('active', 'Active'), ('completed', 'Completed'), ('abandoned', 'Abandoned'), ('stopped', 'Stopped')], default='active', max_length=10),
        ),
        migrations.AddField(
            model_name='assignment',
            name='digits_tries',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='assignment',
            name='volume_clip_key',
            field=models.CharField(max_length=32, null=True),
        ),
        migrations.AddField(
            model_name='assignment',
            name='digits_clip_key',
            field=models.CharField(max_length=32, null=True),
        ),
        migrations.RunPython(fill_clip_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='assignment',
            name='volume_clip_key',
            field=models.CharField(default=crowdtest.rating.models.new_clip_key, max_length=32, unique=True),
        ),
        migrations.AlterField(
            model_name='assignment',
            name='digits_clip_key',
            field=models.CharField(default=crowdtest.rating.models.new_clip_key, max_length=32, unique=True),
        ),
        migrations.CreateModel(
            name='DirectLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('participant', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('experiment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='direct_links', to='corpus.experiment')),
            ],
            options={
                'ordering': ['experiment', 'created_at', 'id'],
                'constraints': [models.UniqueConstraint(fields=('experiment', 'participant'), name='direct_link_unique_participant')],
            },
        ),
    ]
