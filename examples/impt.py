#!/usr/bin/env python3
"""A minimal IMPT client (docs/impt.md): logs in with an API token, prints every line the
gateway sends, and with --accept answers each offer or request with PAYACCEPT.

    python3 examples/impt.py bob <token> [--gateway 127.0.0.1:5180] [--accept] [--wait 10]

It leaves after --wait seconds without a line from the gateway. Only the standard library.
"""
import argparse
import base64
import socket
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handle", help="your handle, e.g. bob")
    parser.add_argument("token", help="an API token (chit token create --scope decide)")
    parser.add_argument("--gateway", default="127.0.0.1:5180", help="host:port of the gateway")
    parser.add_argument("--accept", action="store_true", help="accept every offer and request")
    parser.add_argument("--wait", type=float, default=10, help="seconds of silence before leaving")
    args = parser.parse_args()

    host, _, port = args.gateway.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=args.wait)

    def send(line):
        print(line)
        sock.sendall(line.encode() + b"\r\n")

    def lines():
        buffered = b""
        while True:
            while b"\r\n" not in buffered:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                buffered += chunk
            line, buffered = buffered.split(b"\r\n", 1)
            yield line.decode()

    plain = base64.b64encode(b"\0" + args.handle.encode() + b"\0" + args.token.encode())
    send("C > INIT [BEGIN] IMPT 1.0")
    send("C > INIT [FINAL] IMPT 1.0")
    send("C > AUTH [BEGIN] PLAIN " + plain.decode())
    try:
        for line in lines():
            print(line)
            words = line.split(" ")
            if words[2:4] in (["PAYSND", "[BEGIN]"], ["PAYRQST", "[BEGIN]"]) and args.accept:
                peer, request = words[4], words[7]
                send(f"C > PAYACCEPT [RES] {peer} {request}")
            if words[2:3] in (["DISCONNECT"], ["ERR"]) or words[2].startswith("ERR_"):
                return 0 if words[2] == "DISCONNECT" else 1
    except socket.timeout:
        send("C > DISCONNECT")
        print(next(lines(), "(closed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
