"""FTP benchmark: one big RETR and N sequential sessions (login, RETR, quit).

usage: ftp_bench.py HOST PORT BIGFILE SMALLFILE SESSIONS REPEATS
Prints median seconds for each, as JSON.
"""
import ftplib
import json
import statistics
import sys
import time

host, port, big, small, n, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])


def fetch(f, name):
    total = 0
    with f.transfercmd("RETR " + name) as c:
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            total += len(b)
    f.voidresp()
    return total


def big_retr():
    f = ftplib.FTP()
    f.connect(host, port)
    f.login("anonymous", "bench@")
    f.voidcmd("TYPE I")
    t = time.perf_counter()
    fetch(f, big)
    d = time.perf_counter() - t
    f.quit()
    return d


def sessions():
    t = time.perf_counter()
    for _ in range(n):
        f = ftplib.FTP()
        f.connect(host, port)
        f.login("anonymous", "bench@")
        f.voidcmd("TYPE I")
        fetch(f, small)
        f.quit()
    return time.perf_counter() - t


b = [big_retr() for _ in range(reps)]
s = [sessions() for _ in range(reps)]
print(json.dumps({"big_retr_s": statistics.median(b), "sessions_s": statistics.median(s)}))
