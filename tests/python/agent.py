"""A node agent's registration in Python, signed as docs/events.md says.

It connects as an agent's NKey user over TLS and publishes two
registrations of its node: one signed with the agent's key (the fold takes
it) and one unsigned (under the cell's roster, the fold refuses it).

Usage:

    python tests/python/agent.py --nats tls://127.0.0.1:4222 --cell default \\
        --node worker-1 --creds auth/creds/agent-worker-1.nk --tls-ca auth/tls/ca.pem

On success it prints one JSON line, {"ok": true, "signed_seq": <seq>,
"unsigned_seq": <seq>}, and exits 0; on a problem with NATS or the stream
it prints {"ok": false, "error": ...} and exits 2.

Requires nats-py, nkeys and msgpack.
"""

import argparse
import asyncio
import base64
import json
import sys

import msgpack
import nkeys

from client import (
    EXIT_ERROR,
    EXIT_OK,
    MSG_ID_HEADER,
    PUBLISH_TIMEOUT_S,
    ClientError,
    check_name,
    connect,
    new_name,
    read_seed,
)

SIGNER_HEADER = "Rota-Signer"
SIGNATURE_HEADER = "Rota-Signature"
NODE_REGISTERED_VERSION = 1

# What the signed registration says the node has; the unsigned one says
# one millicore and one byte.
NODE_CPU_MILLI = 4000
NODE_MEMORY_BYTES = 8_589_934_592


def parse_args(argv):
    """Reads the command line."""
    parser = argparse.ArgumentParser(description="Register a node, signed and unsigned.")
    parser.add_argument("--nats", required=True, help="NATS server URL")
    parser.add_argument("--cell", required=True, help="Rota cell")
    parser.add_argument("--node", required=True, help="the agent's node")
    parser.add_argument("--creds", required=True, help="the agent's NKey seed file")
    parser.add_argument("--tls-ca", required=True, help="the cell's certificate authority")
    return parser.parse_args(argv)


def registration(cell, node, cpu_milli, memory_bytes):
    """A node.registered event (version 1)."""
    return {
        "id": new_name(),
        "type": "node.registered",
        "v": NODE_REGISTERED_VERSION,
        "cell": cell,
        "data": {
            "node": node,
            "capacity": {"cpu_milli": cpu_milli, "memory_bytes": memory_bytes},
        },
    }


def signature_headers(pair, subject, payload):
    """The Rota-Signer and Rota-Signature headers for a message."""
    signed = subject.encode() + b"\n" + payload
    signature = base64.urlsafe_b64encode(pair.sign(signed)).rstrip(b"=").decode()
    return {SIGNER_HEADER: pair.public_key.decode(), SIGNATURE_HEADER: signature}


async def publish(js, subject, event, pair):
    """Publishes `event` in MessagePack, signed by `pair` unless it is None."""
    payload = msgpack.packb(event)
    headers = {MSG_ID_HEADER: event["id"]}
    if pair is not None:
        headers.update(signature_headers(pair, subject, payload))
    ack = await js.publish(subject, payload, headers=headers, timeout=PUBLISH_TIMEOUT_S)
    return ack.seq


async def run(args):
    check_name("cell", args.cell)
    check_name("node", args.node)
    pair = nkeys.from_seed(bytearray(read_seed(args.creds).encode()))
    nc = await connect(args.nats, args.creds, args.tls_ca)
    try:
        js = nc.jetstream()
        subject = f"rota.{args.cell}.node.{args.node}.registered"
        signed = registration(args.cell, args.node, NODE_CPU_MILLI, NODE_MEMORY_BYTES)
        signed_seq = await publish(js, subject, signed, pair)
        unsigned = registration(args.cell, args.node, 1, 1)
        unsigned_seq = await publish(js, subject, unsigned, None)
        return {"ok": True, "signed_seq": signed_seq, "unsigned_seq": unsigned_seq}
    finally:
        await nc.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = asyncio.run(run(args))
    except ClientError as error:
        print(json.dumps({"ok": False, "error": str(error)}))
        return EXIT_ERROR
    print(json.dumps(result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
