#!/usr/bin/env python3
"""A misbehaving (or merely limited) prover for daemon_verifier.sh, on a free loopback port written to PORTFILE.
  garbage  answers every request 200 with a body that is not a result
  hang     reads the request and never answers
  close    accepts the connection and closes it at once
  limited  publishes limits in /v1/info (MODEL, at most MAX_FRAMES frames) and refuses every job with a 400,
           as a prover does a job over its limits; it counts the jobs it was sent in PORTFILE.jobs
usage: bad_prover.py MODE PORTFILE [MODEL MAX_FRAMES]
"""
import json
import socket
import sys
import threading
import time

mode, portfile = sys.argv[1], sys.argv[2]
lock = threading.Lock()
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
        status, body = b"200 OK", b'{"job_id": 7, "step_hashes": "not a chain", \xff\xfe'
        if mode == "limited" and data.startswith(b"GET /v1/info "):
            body = json.dumps({"hotkey": "", "role": "prover", "model": sys.argv[3], "numerics": "f32-v1",
                               "limits": {"max_steps": 200, "max_frames": int(sys.argv[4]), "max_height": 1024,
                                          "max_width": 1024}}).encode()
        elif mode == "limited":
            with lock, open(portfile + ".jobs", "a") as f:
                f.write(data.split(b" ")[1].decode() + "\n")
            status, body = b"400 Bad Request", b'{"error":{"code":"bad_request","message":"frames: at most %s"}}' % sys.argv[4].encode()
        c.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (status, len(body), body))
        c.close()
    except OSError:
        pass


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
