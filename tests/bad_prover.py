#!/usr/bin/env python3
"""A misbehaving prover for daemon_verifier.sh, on a free loopback port written to PORTFILE.
  garbage  answers every request 200 with a body that is not a result
  hang     reads the request and never answers
  close    accepts the connection and closes it at once
usage: bad_prover.py MODE PORTFILE
"""
import socket
import sys
import threading
import time

mode, portfile = sys.argv[1], sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(portfile, "w") as f:
    f.write(str(srv.getsockname()[1]))


def serve(c):
    try:
        if mode == "close":
            c.close()
            return
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return
            data += chunk
        if mode == "hang":
            time.sleep(3600)
        body = b'{"job_id": 7, "step_hashes": "not a chain", \xff\xfe'
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (len(body), body))
        c.close()
    except OSError:
        pass


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
