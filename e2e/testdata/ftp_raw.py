"""Raw FTP command sequences against bootsrv; exits non-zero on a wrong reply."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])


def session():
    s = socket.create_connection((host, port), timeout=20)
    f = s.makefile("rb")
    return s, f


def reply(f):
    line = f.readline().decode()
    code = line[:3]
    text = line
    if line[3:4] == "-":
        while True:
            line = f.readline().decode()
            text += line
            if line[:3] == code and line[3:4] == " ":
                break
    return int(code), text


def expect(s, f, cmd, want):
    if cmd is not None:
        s.sendall(cmd)
    code, text = reply(f)
    if code != want:
        print("FAIL", cmd, "want", want, "got", text)
        sys.exit(1)
    print("ok", (cmd or b"<greeting>")[:40], code)
    return text


s, f = session()
banner = expect(s, f, None, 220)
assert "bootsrv" not in banner.lower() and "ftpserver" not in banner.lower(), banner
expect(s, f, b"LIST\r\n", 530)
expect(s, f, b"USER nosuch\r\n", 331)
expect(s, f, b"A" * 5000 + b"\r\n", 500)
expect(s, f, b"NOOP\x00\r\n", 500)
expect(s, f, b"USER anonymous\r\n", 331)
expect(s, f, b"PASS x\r\n", 230)
expect(s, f, b"SITE HELP\r\n", 502)
expect(s, f, b"PORT 10,1,2,3,4,5\r\n", 500)
expect(s, f, b"PORT 127,0,0,1,0,80\r\n", 500)
expect(s, f, b"LIST -R\r\n", 504)
expect(s, f, b"SIZE a.txt\r\n", 213)
expect(s, f, b"MDTM a.txt\r\n", 213)
expect(s, f, b"MLST a.txt\r\n", 250)
expect(s, f, b"OPTS UTF8 ON\r\n", 200)
expect(s, f, b"STOR b.txt\r\n", 550)
expect(s, f, b"QUIT\r\n", 221)

# Brute force: three bad passwords, then the server hangs up.
s, f = session()
expect(s, f, None, 220)
for i in range(3):
    expect(s, f, b"USER netops\r\n", 331)
    expect(s, f, b"PASS wrong\r\n", 530)
assert f.readline() == b"", "still connected after 3 failures"
print("brute force: disconnected")
