"""A Rota client in Python, written against docs/events.md alone.

It submits two jobs to a cell, one encoded as MessagePack and one as JSON,
follows its tenant's events in the cell's stream, and waits until both jobs
are bound to a node.

Usage:

    python tests/python/client.py --nats tls://127.0.0.1:4222 \\
        --cell default --tenant pyclient --timeout 30 \\
        --creds auth/creds/tenant-pyclient.nk --tls-ca auth/tls/ca.pem

Under the configuration `rota auth init` writes, it connects as the
tenant's NKey user over TLS, receives replies on the tenant's own inbox
prefix, and reads through named consumers with one filter subject each,
which is all a tenant's permissions allow (docs/security.md). Without
--creds it connects as an anonymous client, for servers without
authorization.

On success it prints one JSON line,
{"ok": true, "jobs": {"<job>": "<node>", ...}, "events_seen": [[type, job], ...]},
and exits 0. When a job is rejected or the timeout passes it prints
{"ok": false, "error": ..., "seen": [...], "jobs": {...}} and exits 1. When
NATS or the stream cannot be used it prints the same kind of line, explains
on stderr, and exits 2.

Requires nats-py, nkeys and msgpack.
"""

import argparse
import asyncio
import json
import re
import ssl
import sys
import time
import uuid

import msgpack
import nats
import nats.errors
import nats.js.errors
import nkeys
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_CELL = "default"
DEFAULT_TENANT = "pyclient"
DEFAULT_TIMEOUT_S = 30.0

CONNECT_TIMEOUT_S = 5.0
CONNECT_ATTEMPTS = 3
CONNECT_RETRY_WAIT_S = 1.0
PUBLISH_TIMEOUT_S = 5.0
FETCH_BATCH = 256
FETCH_WAIT_S = 1.0

EXIT_OK = 0
EXIT_NOT_BOUND = 1
EXIT_ERROR = 2

# Wire format (docs/events.md sections 2 and 3).
EVENT_BYTES_MAX = 64 * 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JSON_CONTENT_TYPE = "application/json"
CONTENT_TYPE_HEADER = "Content-Type"
MSG_ID_HEADER = "Nats-Msg-Id"
JOB_SUBMITTED_VERSION = 2
JOB_BOUND_VERSION = 1

# What each submitted job asks for.
JOB_CPU_MILLI = 500
JOB_MEMORY_BYTES = 268_435_456
JOB_GPUS = 0
JOB_DURATION_MS = 60_000
MSGPACK_JOB_NAME = "py-msgpack"
JSON_JOB_NAME = "py-json"


class ClientError(Exception):
    """A problem with NATS, the stream or the arguments, not with Rota's answers."""


def parse_args(argv):
    """Reads the command line."""
    parser = argparse.ArgumentParser(
        description="Submit two jobs to Rota and wait until both are bound to a node."
    )
    parser.add_argument("--nats", default=DEFAULT_NATS_URL, help="NATS server URL")
    parser.add_argument("--cell", default=DEFAULT_CELL, help="Rota cell")
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="tenant to submit as")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for both jobs to be bound",
    )
    parser.add_argument(
        "--creds", help="the tenant's NKey seed file, as `rota auth init` writes it"
    )
    parser.add_argument(
        "--tls-ca", help="the cell's certificate authority: connect over TLS checked against it"
    )
    return parser.parse_args(argv)


def check_name(what, value):
    """Raises ClientError unless `value` is a valid Rota name."""
    if not NAME_PATTERN.match(value):
        raise ClientError(
            f"{what} {value!r} is not a valid name: names are 1 to 64 characters "
            "of A-Z, a-z, 0-9, '_' and '-'"
        )


def stream_name(cell):
    """The name of a cell's stream."""
    return f"ROTA_{cell}"


def tenant_jobs_filter(cell, tenant):
    """The filter subject matching every job event of a tenant."""
    return f"rota.{cell}.job.{tenant}.>"


def tenant_rejections_subject(cell, tenant):
    """The subject of input.rejected events attributed to a tenant."""
    return f"rota.{cell}.input.rejected.{tenant}"


def submitted_subject(cell, tenant, job):
    """The subject a job.submitted event belongs on."""
    return f"rota.{cell}.job.{tenant}.{job}.submitted"


def bound_subject(cell, tenant, job, node):
    """The subject a job.bound event belongs on."""
    return f"rota.{cell}.job.{tenant}.{job}.bound.{node}"


def new_name():
    """A fresh event or job id: a random UUID in hex (32 characters)."""
    return uuid.uuid4().hex


def submission(cell, tenant, job, name):
    """A job.submitted event (version 2) for one job."""
    return {
        "id": new_name(),
        "type": "job.submitted",
        "v": JOB_SUBMITTED_VERSION,
        "cell": cell,
        "tenant": tenant,
        "correlation_id": job,
        "data": {
            "job": job,
            "name": name,
            "resources": {
                "cpu_milli": JOB_CPU_MILLI,
                "memory_bytes": JOB_MEMORY_BYTES,
                "gpus": JOB_GPUS,
            },
            "duration_ms": JOB_DURATION_MS,
        },
    }


def encode(event, as_json):
    """Encodes an event and returns (payload, headers) for publishing it."""
    headers = {MSG_ID_HEADER: event["id"]}
    if as_json:
        headers[CONTENT_TYPE_HEADER] = JSON_CONTENT_TYPE
        payload = json.dumps(event, separators=(",", ":")).encode("utf-8")
    else:
        payload = msgpack.packb(event)
    if len(payload) > EVENT_BYTES_MAX:
        raise ClientError(
            f"event {event['id']} is {len(payload)} bytes; events may be at most "
            f"{EVENT_BYTES_MAX} bytes"
        )
    return payload, headers


def is_json(headers):
    """True when a message's headers say its payload is JSON."""
    value = (headers or {}).get(CONTENT_TYPE_HEADER, "")
    return value.strip().lower() == JSON_CONTENT_TYPE


def decode(msg):
    """Decodes a message's payload: JSON if its headers say so, else MessagePack.

    Returns the event as a dict, or None (with a note on stderr) when the
    payload is not an event map.
    """
    try:
        if is_json(msg.headers):
            event = json.loads(msg.data)
        else:
            event = msgpack.unpackb(msg.data)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        note(f"skipping undecodable message on {msg.subject}: {error}")
        return None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        note(f"skipping message on {msg.subject}: not an event map")
        return None
    return event


def note(text):
    """Writes a line to stderr."""
    print(text, file=sys.stderr, flush=True)


async def report_nats_error(error):
    """Notes an asynchronous error of the NATS connection on stderr."""
    note(f"nats: {error!r}")


def read_seed(path):
    """The NKey user seed in a seed file: its first line starting with SU."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = [line.strip() for line in file]
    except OSError as error:
        raise ClientError(f"cannot read credentials {path}: {error}") from error
    for line in lines:
        if line.startswith("SU"):
            return line
    raise ClientError(f"credentials {path} hold no NKey user seed (a line starting with SU)")


def identity_options(creds, tls_ca):
    """The connect options that prove who the client is and check the server."""
    options = {}
    if creds is not None:
        seed = read_seed(creds)
        try:
            public_key = nkeys.from_seed(bytearray(seed.encode())).public_key.decode()
        except Exception as error:
            raise ClientError(f"credentials {creds}: not a valid NKey seed: {error!r}") from error
        options["nkeys_seed_str"] = seed
        # The server lets each user receive replies only on its own prefix.
        options["inbox_prefix"] = f"_INBOX_{public_key}"
    if tls_ca is not None:
        try:
            options["tls"] = ssl.create_default_context(cafile=tls_ca)
        except (OSError, ssl.SSLError) as error:
            raise ClientError(f"cannot use the authority {tls_ca}: {error}") from error
    return options


async def connect(url, creds=None, tls_ca=None):
    """Connects to NATS, trying a few times, without reconnecting later."""
    options = identity_options(creds, tls_ca)
    try:
        return await nats.connect(
            url,
            connect_timeout=CONNECT_TIMEOUT_S,
            max_reconnect_attempts=CONNECT_ATTEMPTS,
            reconnect_time_wait=CONNECT_RETRY_WAIT_S,
            allow_reconnect=False,
            error_cb=report_nats_error,
            **options,
        )
    except Exception as error:
        raise ClientError(f"cannot connect to NATS at {url}: {error!r}") from error


async def follow(js, cell, subject, queue):
    """Reads `subject` from the start of the cell's stream through a named
    pull consumer with that one filter (the consumer-create request then
    names the filter, which a tenant's permissions require); every message
    is put on `queue` by a background task, which is returned."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
    )
    try:
        sub = await js.pull_subscribe(subject, stream=stream_name(cell), config=config)
    except nats.js.errors.NotFoundError as error:
        raise ClientError(
            f"stream {stream_name(cell)} does not exist on this server; "
            "is Rota running against it?"
        ) from error
    except Exception as error:
        raise ClientError(
            f"cannot consume {subject} from stream {stream_name(cell)}: {error!r}"
        ) from error

    async def fetch_forever():
        while True:
            try:
                messages = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            except Exception as error:
                note(f"reading {subject} failed: {error!r}")
                raise
            for msg in messages:
                await queue.put(msg)

    return asyncio.create_task(fetch_forever())


async def publish(js, cell, tenant, event, as_json):
    """Publishes a job.submitted event and checks the stream's acknowledgement."""
    payload, headers = encode(event, as_json)
    subject = submitted_subject(cell, tenant, event["data"]["job"])
    try:
        ack = await js.publish(
            subject, payload, timeout=PUBLISH_TIMEOUT_S, headers=headers
        )
    except Exception as error:
        raise ClientError(f"publishing to {subject} failed: {error!r}") from error
    if ack.stream != stream_name(cell) or not ack.seq:
        raise ClientError(
            f"unexpected acknowledgement for {subject}: stream {ack.stream!r}, "
            f"sequence {ack.seq!r}"
        )
    if ack.duplicate:
        raise ClientError(
            f"the stream treated new event {event['id']} as a duplicate (sequence {ack.seq})"
        )
    encoding = "JSON" if as_json else "MessagePack"
    note(f"submitted job {event['data']['job']} as {encoding}: {ack.stream} sequence {ack.seq}")


class Progress:
    """What has been seen of the submitted jobs so far."""

    def __init__(self, cell, tenant, jobs):
        self.cell = cell
        self.tenant = tenant
        self.jobs = set(jobs)
        self.submitted_subjects = {submitted_subject(cell, tenant, job): job for job in jobs}
        self.nodes = {}
        self.seen = []
        self.error = None

    def done(self):
        """True when every job has been bound, or something went wrong."""
        return self.error is not None or set(self.nodes) == self.jobs

    def apply(self, msg):
        """Takes one message from the stream into account."""
        event = decode(msg)
        if event is None:
            return
        kind = event.get("type")
        if kind == "input.rejected":
            self.apply_rejected_input(event)
            return
        job = event["data"].get("job")
        if not isinstance(job, str) or job not in self.jobs:
            return
        self.seen.append([kind, job])
        if kind == "job.rejected":
            reason = event["data"].get("reason")
            self.error = f"job {job} was rejected: {reason}"
        elif kind == "job.bound":
            self.apply_bound(msg.subject, event, job)

    def apply_bound(self, subject, event, job):
        """Records the node of a job.bound event, if the event is well formed."""
        node = event["data"].get("node")
        if event.get("v") != JOB_BOUND_VERSION:
            note(f"ignoring job.bound version {event.get('v')!r} for job {job}")
            return
        if not isinstance(node, str) or not node:
            note(f"ignoring job.bound for job {job} without a node: {event['data']!r}")
            return
        expected = bound_subject(self.cell, self.tenant, job, node)
        if subject != expected:
            note(f"ignoring job.bound for job {job} on {subject}; it belongs on {expected}")
            return
        self.nodes.setdefault(job, node)

    def apply_rejected_input(self, event):
        """Fails when an input.rejected event is about one of our submissions."""
        data = event["data"]
        job = self.submitted_subjects.get(data.get("subject"))
        if job is None:
            return
        self.seen.append(["input.rejected", job])
        self.error = (
            f"the submission of job {job} was rejected as {data.get('kind')}: "
            f"{data.get('detail')}"
        )


async def wait_for_bindings(queue, progress, timeout_s):
    """Applies messages from `queue` until `progress` is done or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not progress.done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            msg = await asyncio.wait_for(queue.get(), remaining)
        except asyncio.TimeoutError:
            return
        progress.apply(msg)


def report(result):
    """Prints the one line of output."""
    print(json.dumps(result), flush=True)


async def run(args):
    """Submits the two jobs and waits for their bindings; returns the exit code."""
    for what, value in (("cell", args.cell), ("tenant", args.tenant)):
        check_name(what, value)
    nc = await connect(args.nats, args.creds, args.tls_ca)
    followers = []
    try:
        js = nc.jetstream()
        job_a, job_b = new_name(), new_name()
        progress = Progress(args.cell, args.tenant, [job_a, job_b])
        queue = asyncio.Queue()
        for subject in (
            tenant_jobs_filter(args.cell, args.tenant),
            tenant_rejections_subject(args.cell, args.tenant),
        ):
            followers.append(await follow(js, args.cell, subject, queue))
        await publish(js, args.cell, args.tenant,
                      submission(args.cell, args.tenant, job_a, MSGPACK_JOB_NAME), as_json=False)
        await publish(js, args.cell, args.tenant,
                      submission(args.cell, args.tenant, job_b, JSON_JOB_NAME), as_json=True)
        await wait_for_bindings(queue, progress, args.timeout)
    finally:
        for follower in followers:
            follower.cancel()
        await nc.close()
    if progress.error is None and set(progress.nodes) == progress.jobs:
        report({"ok": True, "jobs": progress.nodes, "events_seen": progress.seen})
        return EXIT_OK
    error = progress.error or (
        f"timed out after {args.timeout} s waiting for job.bound of "
        f"{sorted(progress.jobs - set(progress.nodes))}"
    )
    note(error)
    report({"ok": False, "error": error, "seen": progress.seen, "jobs": progress.nodes})
    return EXIT_NOT_BOUND


def main(argv=None):
    """Entry point: runs the client and exits with its code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code = asyncio.run(run(args))
    except ClientError as error:
        note(f"error: {error}")
        report({"ok": False, "error": str(error), "seen": []})
        code = EXIT_ERROR
    sys.exit(code)


if __name__ == "__main__":
    main()
