"""Where a connection's bytes go in the example server (issue 14, W4): its RSS per
connection at three stages, measured with the bench's data file.

    python3 benches/support/connection_memory.py [CONNECTIONS] [SERVER] [FILE]

Starts SERVER (default target/release/examples/server, build it first) on CPU 0 with its
access log off, opens CONNECTIONS (500) keep-alive connections and reads VmRSS after each
stage: connected without a request; after one 1-byte range each (kept alive); each in a
512 MiB answer whose client reads nothing after the head. Prints KiB per connection over
the idle RSS, then the RSS after the clients close.
"""
import os
import socket
import subprocess
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
SERVER = sys.argv[2] if len(sys.argv) > 2 else "target/release/examples/server"
FILE = sys.argv[3] if len(sys.argv) > 3 else "target/bench-data/range-1024MiB.bin"
srv = subprocess.Popen(["taskset", "-c", "0", SERVER, FILE, "--addr", "127.0.0.1:18600"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
def rss():
    for l in open(f"/proc/{srv.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
time.sleep(1.0)
for _ in range(50):
    try:
        s = socket.create_connection(("127.0.0.1",18600)); s.close(); break
    except OSError: time.sleep(0.1)
time.sleep(0.5)
base = rss(); print("idle KiB", base)
socks = []
for i in range(N):
    socks.append(socket.create_connection(("127.0.0.1",18600)))
time.sleep(1.0); r1 = rss(); print(f"{N} connected, no request: +{(r1-base)/N:.1f} KiB/conn")
for s in socks:
    s.sendall(b"GET /video HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n")
time.sleep(0.5)
for s in socks:
    s.settimeout(2); data=b""
    while b"\r\n\r\n" not in data or not data.endswith(b"\x00") and len(data) < 10:
        chunk = s.recv(4096)
        if not chunk: break
        data += chunk
        if b"\r\n\r\n" in data: break
time.sleep(1.0); r2 = rss(); print(f"after one small request each, kept alive: +{(r2-base)/N:.1f} KiB/conn")
for s in socks:
    s.sendall(b"GET /video HTTP/1.1\r\nHost: x\r\nRange: bytes=0-536870911\r\n\r\n")
time.sleep(5.0); r3 = rss(); print(f"stalled in a 512 MiB answer: +{(r3-base)/N:.1f} KiB/conn (total {r3/1024:.1f} MiB)")
for s in socks: s.close()
time.sleep(3); r4 = rss(); print(f"after close: {r4/1024:.1f} MiB")
srv.terminate(); srv.wait()
