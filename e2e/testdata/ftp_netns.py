"""Helper roles for the FTP namespace security tests (e2e/ftp_netns_test.go).

Each role runs inside one network namespace and prints one result per line;
the Go test coordinates roles through stdin/stdout.

  listen HOST PORT          accept on HOST:PORT until stdin closes, then
                            print "accepted N"
  bounce SRV PORT TARGET TPORT
                            log in anonymously, try PORT and EPRT naming
                            TARGET:TPORT, print each reply code, then do a
                            LIST over PORT to our own address as a control
  pasv SRV PORT FILE        log in, PASV, print "port N", wait for a stdin
                            line, RETR FILE; print "data N SHA256" and the
                            final reply code
  steal SRV PORT            connect to SRV:PORT, print "connected", read until
                            EOF/reset/timeout; print "stolen N how"
"""
import hashlib
import select
import socket
import sys


def reply(f):
    line = f.readline().decode()
    if not line:
        return -1, ""
    code, text = line[:3], line
    if line[3:4] == "-":
        while True:
            line = f.readline().decode()
            text += line
            if not line or (line[:3] == code and line[3:4] == " "):
                break
    return int(code), text


def control(srv, port):
    s = socket.create_connection((srv, int(port)), timeout=30)
    f = s.makefile("rb")
    assert reply(f)[0] == 220

    def cmd(line):
        s.sendall(line.encode() + b"\r\n")
        return reply(f)

    code, text = cmd("USER anonymous")
    assert code == 331, text
    code, text = cmd("PASS x@y")
    assert code == 230, text
    return s, f, cmd


def out(*a):
    print(*a, flush=True)


def listen(host, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(16)
    out("ready")
    n = 0
    while True:
        r, _, _ = select.select([ls, sys.stdin], [], [])
        if ls in r:
            c, _ = ls.accept()
            n += 1
            c.close()
        if sys.stdin in r and not sys.stdin.readline():
            break
    out("accepted", n)


def bounce(srv, port, target, tport):
    s, f, cmd = control(srv, port)
    tport = int(tport)
    code, _ = cmd("PORT %s,%d,%d" % (target.replace(".", ","), tport >> 8, tport & 255))
    out("PORT", code)
    code, _ = cmd("EPRT |1|%s|%d|" % (target, tport))
    out("EPRT", code)
    # Control: active mode to our own address works, so the refusals
    # above are policy, not a broken active mode.
    own = s.getsockname()[0]
    ls = socket.socket()
    ls.bind((own, 0))
    ls.listen(1)
    p = ls.getsockname()[1]
    code, _ = cmd("PORT %s,%d,%d" % (own.replace(".", ","), p >> 8, p & 255))
    out("OWNPORT", code)
    s.sendall(b"NLST\r\n")
    code, _ = reply(f)
    ls.settimeout(20)
    c, _ = ls.accept()
    listing = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        listing += b
    c.close()
    out("OWNLIST", code, reply(f)[0], len(listing))
    cmd("QUIT")


def pasv(srv, port, name):
    s, f, cmd = control(srv, port)
    code, text = cmd("PASV")
    assert code == 227, text
    nums = text[text.index("(") + 1:text.index(")")].split(",")
    host, dport = ".".join(nums[:4]), int(nums[4]) * 256 + int(nums[5])
    out("port", dport, host)
    sys.stdin.readline()
    s.sendall(("RETR %s\r\n" % name).encode())
    d = socket.create_connection((host, dport), timeout=30)
    code, text = reply(f)
    out("RETR", code)
    h, n = hashlib.sha256(), 0
    while code == 150:
        b = d.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    d.close()
    if code == 150:
        code, text = reply(f)
    out("data", n, h.hexdigest())
    out("final", code)
    cmd("QUIT")


def steal(srv, port):
    d = socket.create_connection((srv, int(port)), timeout=30)
    out("connected")
    n, how = 0, "eof"
    try:
        while True:
            b = d.recv(65536)
            if not b:
                break
            n += len(b)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    out("stolen", n, how)


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    {"listen": listen, "bounce": bounce, "pasv": pasv, "steal": steal}[role](*args)
