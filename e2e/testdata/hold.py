#!/usr/bin/env python3
"""Open many idle TCP connections and hold them: the client that opens
sockets and does nothing.

    hold.py HOST PORT COUNT KIND SRC...

Opens COUNT connections to HOST:PORT, round-robin from the source
addresses SRC..., and keeps them open. KIND http sends one keep-alive
request on each and reads its response, so the connection sits idle in
keep-alive; KIND raw sends nothing. Prints "held N refused M" once done,
then waits for stdin to close, closes everything and prints "released".
A connection counts as refused when it cannot be opened or the server
closes it (or answers 503) right away.
"""
import select
import socket
import sys


def open_one(host, port, src, kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind((src, 0))
        s.connect((host, port))
        if kind == "http":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(4096)
            if not data or b" 503 " in data.split(b"\r\n", 1)[0]:
                s.close()
                return None
        else:
            # A refused connection is closed (or answered 421) at once.
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                data = s.recv(4096)
                if not data or data.startswith(b"421"):
                    s.close()
                    return None
        return s
    except OSError:
        s.close()
        return None


def main():
    host, port, count, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    srcs = sys.argv[5:]
    held, refused = [], 0
    for i in range(count):
        s = open_one(host, port, srcs[i % len(srcs)], kind)
        if s is None:
            refused += 1
        else:
            held.append(s)
    print("held %d refused %d" % (len(held), refused), flush=True)
    sys.stdin.read()
    for s in held:
        s.close()
    print("released", flush=True)


main()
