from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('design', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='design',
            name='warnings',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
