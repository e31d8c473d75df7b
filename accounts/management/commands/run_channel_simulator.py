"""Serve the simulator channel over HTTP on 127.0.0.1 (accounts.simulator_http), until Ctrl-C.

    manage.py run_channel_simulator --port 8701 --code sim --secret secret-sim --default random --seed 7

Register a channel with adapter ``http_simulator``, base URL ``http://127.0.0.1:8701`` and the
same callback secret, and the bank pays through it. ``--port 0`` picks a free port; the ready
line says which.
"""

from __future__ import annotations

import json
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.payments.simulator_http import DEFAULT_WEIGHTS, RANDOM_KINDS, TIMEOUT_MODES, RandomOutcomes, SimulatorServer


class Command(BaseCommand):
    help = "Run the scriptable payment-channel simulator as an HTTP server (tests, load runs, the demo)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--code", default="sim", help="the channel code (transaction ids derive from it)")
        parser.add_argument("--secret", default="", help="callback signing key (default: secret-<code>)")
        parser.add_argument("--default", default="success", help="outcome of unscripted requests: success|failure|random|...")
        parser.add_argument("--seed", default=None, help="random mode: the seed (same seed, same outcome per request id)")
        parser.add_argument(
            "--weights", default="", help=f"random mode: JSON weights of {', '.join(RANDOM_KINDS)} (default {DEFAULT_WEIGHTS})"
        )
        parser.add_argument("--max-delay", type=float, default=2.0, help="random mode: longest delay of a late outcome (s)")
        parser.add_argument("--success-ratio", type=float, default=0.7, help="random mode: share of late outcomes that pay")
        parser.add_argument("--timeout-mode", choices=TIMEOUT_MODES, default="504", help="how a timeout looks to the client")
        parser.add_argument("--hang-seconds", type=float, default=30.0, help="timeout mode hang: how long to hold the call")
        parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every payout, collection and query")
        parser.add_argument("--callback-url", default="", help="deliver signed callbacks of definitive outcomes here")
        parser.add_argument("--callback-duplicates", type=int, default=1, help="send each callback this many times at once")
        parser.add_argument("--verbose-requests", action="store_true", help="log every request")

    def handle(self, *args, **options):
        random_outcomes, default = None, options["default"]
        try:
            if default == "random":
                weights = json.loads(options["weights"]) if options["weights"] else dict(DEFAULT_WEIGHTS)
                random_outcomes = RandomOutcomes(
                    seed=options["seed"],
                    weights=weights,
                    max_delay=options["max_delay"],
                    success_ratio=options["success_ratio"],
                )
                default = None
            server = SimulatorServer(
                (options["host"], options["port"]),
                code=options["code"],
                secret=options["secret"] or f"secret-{options['code']}",
                default=default,
                random_outcomes=random_outcomes,
                timeout_mode=options["timeout_mode"],
                hang_seconds=options["hang_seconds"],
                latency=options["latency"],
                callback_url=options["callback_url"],
                callback_duplicates=options["callback_duplicates"],
                quiet=not options["verbose_requests"],
            )
        except (ValueError, TypeError, OSError) as exc:
            raise CommandError(str(exc)) from exc

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        mode = f"random (seed {random_outcomes.seed})" if random_outcomes else options["default"]
        extra = f", callbacks to {options['callback_url']}" if options["callback_url"] else ""
        self.stdout.write(f"Channel simulator {options['code']} ready on {server.url} (default: {mode}{extra})")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            self.stdout.write(f"Channel simulator {options['code']} stopped.")
