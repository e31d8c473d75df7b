"""API client secrets encrypted at rest; idempotent answers stored as the bytes first sent.

Data: every existing secret is encrypted under the first key of ``PII_ENCRYPTION_KEYS`` (reverse:
decrypted back into the clear column). The stored answers keep their JSON text.
"""

from django.db import migrations, models

from backoffice import crypto


def encrypt_secrets(apps, schema_editor):
    ApiClient = apps.get_model("backoffice", "ApiClient")
    for client in ApiClient.objects.all().only("pk", "secret"):
        ApiClient.objects.filter(pk=client.pk).update(secret_encrypted=crypto.encrypt(client.secret))


def decrypt_secrets(apps, schema_editor):
    ApiClient = apps.get_model("backoffice", "ApiClient")
    for client in ApiClient.objects.all().only("pk", "secret_encrypted"):
        ApiClient.objects.filter(pk=client.pk).update(secret=crypto.decrypt(client.secret_encrypted))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_beat_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="apiclient",
            name="secret_encrypted",
            field=models.TextField(default="", editable=False, verbose_name="secret (encrypted) / 密钥（密文）"),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        # A default, so that reversing the removal can add the column back to existing rows.
        migrations.AlterField(
            model_name="apiclient",
            name="secret",
            field=models.CharField(default="", editable=False, max_length=128, verbose_name="secret / 密钥"),
        ),
        migrations.RemoveField(model_name="apiclient", name="secret"),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.TextField(null=True),
        ),
    ]
