"""Load generator for the API cell: signed POST /api/v1/transfers/ over keep-alive connections.

Only ever talks to 127.0.0.1. Signing scheme (API.md, backoffice/signing.py): X-Signature is the
hex HMAC-SHA256 of METHOD, PATH_WITH_QUERY, TIMESTAMP, NONCE and hex(sha256(body)) joined by
newlines. ``backoffice.signing.signed_headers`` is used when it exists; the local copy below is
the fallback while that module is being written.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import sys
import time
import uuid

PATH = "/api/v1/transfers/"


def local_signed_headers(client_id: str, secret: str, method: str, path_with_query: str, body: bytes) -> dict:
    timestamp = str(int(time.time()))
    nonce = uuid.uuid4().hex
    message = "\n".join([method.upper(), path_with_query, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"X-Client-Id": client_id, "X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature}


def project_signer():
    """backoffice.signing.signed_headers if the API engineer's module exists, else None."""
    try:
        from backoffice.signing import signed_headers
    except Exception:  # noqa: BLE001 - missing or half-written module: fall back to the local copy
        return None
    return signed_headers


def _headers(signer, spec: dict, body: bytes, key: str) -> dict:
    headers = dict(signer(spec["client_id"], spec["secret"], "POST", PATH, body))
    headers.update({"Content-Type": "application/json", "Idempotency-Key": key, "Connection": "keep-alive"})
    return headers


def _body(rng: random.Random, numbers: list[str], amount: str = "1.00") -> bytes:
    src, dst = rng.sample(numbers, 2)
    payload = {"from_account": src, "to_account": dst, "amount": amount, "memo": "bench"}
    return json.dumps(payload, separators=(",", ":")).encode()


def _raw_request(port: int, body: bytes, headers: dict) -> bytes:
    """The whole HTTP/1.1 request as bytes (keep-alive is HTTP/1.1's default)."""
    lines = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "connection"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawConnection:
    """A keep-alive connection that sends prepared request bytes and reads one answer (status, body) by its
    Content-Length: the load generator's own CPU per request stays small, as pgbench's does (``http.client``
    costs about 0.3 ms of Python a request, on the cores the server under test uses)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def close(self) -> None:
        self.sock.close()


def wait_ready(port: int, *, timeout: float, server) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def probe(spec: dict) -> dict:
    """One signed transfer from the parent: does the endpoint exist and answer 201?"""
    signer = project_signer()
    signing = "backoffice.signing.signed_headers" if signer else "local HMAC (backoffice.signing missing)"
    signer = signer or local_signed_headers
    rng = random.Random(spec["run"])
    body = _body(rng, spec["numbers"], "0.01")
    conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
    try:
        conn.request("POST", PATH, body=body, headers=_headers(signer, spec, body, f"{spec['run']}-probe"))
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return {"status": response.status, "body": text, "signing": signing}
    except OSError as exc:
        return {"status": 0, "body": f"{exc.__class__.__name__}: {exc}", "signing": signing}
    finally:
        conn.close()


def worker(spec: dict, index: int, barrier, results) -> None:
    """One load-generating process: signed transfers for spec['seconds'] after the barrier."""
    try:
        if spec["root"] not in sys.path:
            sys.path.insert(0, spec["root"])
        os.environ.setdefault("DATABASE_URL", spec["database_url"])
        os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
        import django

        django.setup()
        signer = project_signer() or local_signed_headers
        rng = random.Random(f"{spec['run']}-api-{index}")
        numbers = spec["numbers"]
        conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
        # Warm-up, not counted: the first request a web server worker serves imports the API views.
        body = _body(rng, numbers, "0.01")
        conn.request("POST", PATH, body=body, headers=_headers(signer, spec, body, f"{spec['run']}-api-{index}-warm"))
        conn.getresponse().read()
        conn.close()
        raw = RawConnection(spec["port"])
        # Signed before the clock starts (each with its own nonce and key, its timestamp well inside the server's
        # API_SIGNATURE_MAX_SKEW): the partner's signing runs on the partner's machine, not on the two cores the
        # bench shares with the server. The server still checks every signature, nonce and key in the cell.
        presigned = []
        for seq in range(1, spec.get("presign", 0) + 1):
            body = _body(rng, numbers)
            presigned.append(_raw_request(spec["port"], body, _headers(signer, spec, body, f"{spec['run']}-api-{index}-{seq}")))
        presigned.reverse()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        barrier.abort()
        results.put({"index": index, "fatal": f"{exc.__class__.__name__}: {exc}"})
        return
    try:
        barrier.wait(timeout=120)
    except Exception:  # noqa: BLE001
        results.put({"index": index, "fatal": "start barrier broken"})
        return
    done = refused = errors = 0
    other: dict[str, int] = {}
    first_error = ""
    start = time.monotonic()
    cpu_start = time.process_time()
    deadline = start + spec["seconds"]
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        if presigned:
            request = presigned.pop()
        else:  # more requests than were signed beforehand: sign this one now
            body = _body(rng, numbers)
            request = _raw_request(spec["port"], body, _headers(signer, spec, body, f"{spec['run']}-api-{index}-{seq}"))
        try:
            status, text = raw.exchange(request)
        except (OSError, ValueError) as exc:
            errors += 1
            first_error = first_error or f"{exc.__class__.__name__}: {exc}"
            raw.close()
            raw = RawConnection(spec["port"])
            continue
        if status == 201:
            done += 1
            continue
        code = ""
        try:
            code = json.loads(text).get("code", "")
        except (ValueError, AttributeError):
            pass
        if status == 409 and code == "insufficient_funds":
            refused += 1
            continue
        errors += 1
        label = f"{status} {code}".strip()
        other[label] = other.get(label, 0) + 1
        first_error = first_error or f"HTTP {label}: {text[:200].decode(errors='replace')}"
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    raw.close()
    results.put(
        {
            "index": index,
            "done": done,
            "refused": refused,
            "errors": errors,
            "first_error": first_error,
            "other": other,
            "elapsed": elapsed,
            "cpu": cpu,
        }
    )
