"""``runserver`` plus the in-process beat of the embedded demo (``backoffice.scheduler.DemoBeat``).

``make run`` uses it: with no broker (tasks eager), the scheduled jobs run every ``--beat-every``
seconds (``DEMO_BEAT_EVERY``, default 10) in a thread of the server process, so that withdrawals
with an unknown outcome are queried and settle without an operator. With a broker it is plain
``runserver``: run ``make worker`` and ``make beat``. ``--no-beat`` turns the thread off.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.commands.runserver import Command as RunserverCommand

from backoffice.scheduler import DemoBeat


class Command(RunserverCommand):
    help = "Run the development server and, without a broker, the scheduled jobs in a thread beside it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--beat-every", type=int, default=int(os.environ.get("DEMO_BEAT_EVERY", "10")), help="Seconds between runs."
        )
        parser.add_argument("--no-beat", action="store_true", help="Do not run the scheduled jobs.")

    def inner_run(self, *args, **options):
        if not options.get("no_beat") and settings.CELERY_TASK_ALWAYS_EAGER:
            DemoBeat(every=options["beat_every"]).start()
            self.stdout.write(f"Scheduled jobs run in this process every {options['beat_every']} s (no broker).")
        elif not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("A broker is configured: run the scheduled jobs with `make worker` and `make beat`.")
        return super().inner_run(*args, **options)
