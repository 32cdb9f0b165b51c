"""The videos API client (fractal.videos) against a small in-process fake of the verifier's videos API
(docs/videos.md): the Authorization header, error parsing (code, message, Retry-After), Range headers,
queries, wait, save, recording; `import fractal` without numpy; the OpenAPI document and its checker
(docs/openapi-videos.json, tests/openapi_check.py) and tests/videos_client.py against the fake. Needs
neither libfractal nor numpy."""

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)

import fractal  # noqa: E402
from fractal.videos import VideosClient, VideosError, range_header  # noqa: E402

OPENAPI = os.path.join(REPO, "docs", "openapi-videos.json")
TESTS = os.path.join(REPO, "tests")
HAVE_REPO = os.path.exists(OPENAPI) and os.path.exists(os.path.join(TESTS, "openapi_check.py"))
if HAVE_REPO:
    sys.path.insert(0, TESTS)
    import openapi_check  # noqa: E402

MODEL = "497416f9343a405f16230199bacc422c"
PROVER = "8cd1" + "5a" * 28 + "34b6"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(range(256)) * 2
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
KEY, OTHER = "fk_" + "1" * 40, "fk_" + "2" * 40
FIELDS = {"prompt": str, "negative_prompt": str, "seed": int, "size": str, "frames": int, "seconds": (int, float),
          "fps": int, "steps": int, "guidance": (int, float), "scheduler": str, "model": str}


class Fake:
    """The verifier's videos API, as docs/videos.md says, in memory. A video moves on at each GET of it:
    queued -> in_progress -> completed (or failed, fail=True). script: canned answers (status, headers, body)
    served first, in order; log: every request (method, path, headers, body)."""

    def __init__(self, broken=False):
        self.videos, self.order, self.log, self.script = {}, [], [], []
        self.fail, self.broken, self.n = False, broken, 0
        self.lock = threading.Lock()

    def answer(self, method, path, headers, body):
        with self.lock:
            self.log.append((method, path, headers, body))
            if self.script:
                return self.script.pop(0)
            try:
                return self.route(method, path, headers, body)
            except Exception as e:  # noqa: BLE001 -- a bug of the fake: an answer that says so
                return self.error(500, "fake_bug", repr(e))

    @staticmethod
    def json(status, obj, headers=None):
        return status, dict(headers or {}, **{"Content-Type": "application/json"}), json.dumps(obj).encode()

    def error(self, status, code, message, headers=None):
        return self.json(status, {"error": {"code": code, "message": message}}, headers)

    def route(self, method, path, headers, body):
        auth = headers.get("Authorization", "")
        if auth not in ("Bearer " + KEY, "Bearer " + OTHER):
            return self.error(401, "unauthorized", "a missing or unknown key", {"WWW-Authenticate": "Bearer"})
        owner = auth[7:]
        target, _, query = path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        parts = target.strip("/").split("/")
        if target == "/v1/videos" and method == "POST":
            return self.create(owner, body)
        if target == "/v1/videos" and method == "GET":
            return self.list(owner, q)
        if len(parts) in (3, 4) and parts[:2] == ["v1", "videos"]:
            v = self.videos.get(parts[2])
            if v is None or v["owner"] != owner:
                return self.error(404, "not_found", "no such video: %s" % parts[2])
            if len(parts) == 4 and parts[3] == "content" and method == "GET":
                return self.content(v["obj"], q, headers)
            if len(parts) == 3 and method == "GET":
                return self.json(200, self.advance(v["obj"]))
            if len(parts) == 3 and method == "DELETE":
                del self.videos[parts[2]]
                self.order.remove(parts[2])
                return self.json(200, {"id": parts[2], "object": "video.deleted", "deleted": True})
        return self.error(404, "not_found", "no such endpoint")

    def create(self, owner, body):
        def dup(pairs):
            seen = {}
            for k, v in pairs:
                if k in seen:
                    raise ValueError("repeated field: %s" % k)
                seen[k] = v
            return seen
        try:
            r = json.loads(body.decode("utf-8"), object_pairs_hook=dup)
        except ValueError as e:
            return self.error(400, "bad_request", "invalid JSON: %s" % e)
        if not isinstance(r, dict):
            return self.error(400, "bad_request", "the request is not a JSON object")
        for k, v in r.items():
            if k not in FIELDS:
                return self.error(400, "bad_request", "unknown field: %s" % k)
            if not isinstance(v, FIELDS[k]) or isinstance(v, bool):
                return self.error(400, "bad_request", "%s: wrong type" % k)
        if "prompt" not in r:
            return self.error(400, "bad_request", "prompt: required")
        if "frames" in r and "seconds" in r:
            return self.error(400, "bad_request", "frames and seconds: give one")
        size = r.get("size", "64x64")
        m = re.match(r"^([0-9]+)x([0-9]+)$", size)
        if not m or any(int(x) % 8 or not 8 <= int(x) <= 256 for x in m.groups()):
            return self.error(400, "bad_request", "size: WxH, multiples of 8 up to 256x256")
        fps = r.get("fps", 8)
        frames = round(r["seconds"] * fps) if "seconds" in r else r.get("frames", 16)
        for k, v, lo, hi in (("steps", r.get("steps", 25), 1, 50), ("frames", frames, 1, 64), ("fps", fps, 1, 60),
                             ("guidance", r.get("guidance", 9), 0, 50), ("seed", r.get("seed", 0), 0, 2**64 - 1)):
            if not lo <= v <= hi:
                return self.error(400, "bad_request", "%s: out of range" % k)
        if r.get("scheduler", "dpm++2m") not in ("dpm++2m", "ddim"):
            return self.error(400, "bad_request", "scheduler: dpm++2m or ddim")
        if r.get("model", MODEL) != MODEL:
            return self.error(422, "model_not_served", "model %s is not served here" % r["model"])
        self.n += 1
        vid = "video_%016x" % (0x6c1f0e2a9b3d4e5f + self.n)
        w, h = (int(x) for x in m.groups())
        job = {"job_id": vid, "model": MODEL, "numerics": "f32-v1", "prompt": r["prompt"],
               "negative_prompt": r.get("negative_prompt", ""), "seed": r.get("seed", 1234),
               "steps": r.get("steps", 25), "guidance": r.get("guidance", 9),
               "scheduler": r.get("scheduler", "dpm++2m"), "frames": frames, "height": h, "width": w}
        obj = {"id": vid, "object": "video", "status": "queued", "progress": 0, "created_at": int(time.time()),
               "model": MODEL, "prompt": r["prompt"], "size": size, "frames": frames, "fps": fps,
               "seconds": frames / fps, "job": job}
        self.videos[vid] = {"owner": owner, "obj": obj}
        self.order.insert(0, vid)
        return self.json(201, obj)

    def advance(self, obj):
        now = int(time.time())
        if obj["status"] == "queued":
            obj.update(status="in_progress", progress=45, started_at=now)
        elif obj["status"] == "in_progress" and self.fail:
            obj.update(status="failed", progress=95, completed_at=now,
                       error={"code": "provers_failed", "message": "every prover tried gave no valid answer"})
        elif obj["status"] == "in_progress":
            obj.update(status="completed", progress=100, completed_at=now, expires_at=now + 604800,
                       digest="f9fc7baa484cc318403390570d72805a", prover=PROVER,
                       check={"mode": "spot", "step": 1, "decode": True})
            if self.broken:
                obj.update(status="completed", digest="F9FC", progress=99)
        return obj

    def content(self, obj, q, headers):
        if q.get("variant", "video") not in ("video", "thumbnail"):
            return self.error(400, "bad_request", "variant: video or thumbnail")
        if obj["status"] != "completed":
            return self.error(409, "not_ready", "the video is %s" % obj["status"])
        data, ctype = (MP4, "video/mp4") if q.get("variant", "video") == "video" else (PNG, "image/png")
        rng = headers.get("Range")
        if rng is None:
            return 200, {"Content-Type": ctype, "Accept-Ranges": "bytes"}, data
        m = re.match(r"^bytes=([0-9]*)-([0-9]*)$", rng)
        n = len(data)
        if not m or m.groups() == ("", ""):
            return self.error(416, "range_not_satisfiable", "bad range", {"Content-Range": "bytes */%d" % n})
        a, b = m.groups()
        start, end = (n - min(int(b), n), n - 1) if a == "" else (int(a), min(int(b) if b else n - 1, n - 1))
        if start >= n or start > end:
            return self.error(416, "range_not_satisfiable", "bad range", {"Content-Range": "bytes */%d" % n})
        return 206, {"Content-Type": ctype, "Content-Range": "bytes %d-%d/%d" % (start, end, n)}, data[start:end + 1]

    def list(self, owner, q):
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return self.error(400, "bad_request", "limit: 1..100")
        ids = [i for i in self.order if self.videos[i]["owner"] == owner]
        if "after" in q:
            if q["after"] not in ids:
                return self.error(404, "not_found", "no such video: %s" % q["after"])
            ids = ids[ids.index(q["after"]) + 1:]
        page = ids[:limit]
        out = {"object": "list", "data": [self.videos[i]["obj"] for i in page], "has_more": len(ids) > limit,
               "first_id": page[0] if page else None, "last_id": page[-1] if page else None}
        if self.broken:
            del out["has_more"]
        return self.json(200, out)


class Server:
    def __init__(self, fake):
        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, headers, out = fake.answer(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class VideosClientTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.server = Server(self.fake)
        self.seen = []
        self.c = VideosClient(self.server.url, KEY, timeout=5, record=self.seen)

    def tearDown(self):
        self.server.close()

    def headers(self, i=-1):
        return {k.lower(): v for k, v in self.fake.log[i][2].items()}

    def test_create_sends_the_key_and_the_fields(self):
        v = self.c.create("a lighthouse", steps=2, frames=2, size="32x32", seed=5, negative_prompt=None)
        method, path, _, body = self.fake.log[-1]
        self.assertEqual((method, path), ("POST", "/v1/videos"))
        self.assertEqual(self.headers()["authorization"], "Bearer " + KEY)
        self.assertEqual(self.headers()["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"prompt": "a lighthouse", "steps": 2, "frames": 2, "size": "32x32",
                                            "seed": 5})  # None: left out, the server's default
        self.assertEqual((v["status"], v["job"]["seed"], v["job"]["height"]), ("queued", 5, 32))
        self.assertEqual(self.c.get(v["id"])["status"], "in_progress")
        self.assertEqual(self.fake.log[-1][1], "/v1/videos/" + v["id"])
        self.assertEqual(self.headers()["authorization"], "Bearer " + KEY)
        self.assertEqual([(r["method"], r["path"], r["status"], r["content_type"]) for r in self.seen],
                         [("POST", "/v1/videos", 201, "application/json"),
                          ("GET", "/v1/videos/" + v["id"], 200, "application/json")])
        self.assertEqual(json.loads(self.seen[0]["body"]), v)
        with self.assertRaises(VideosError):
            VideosClient(self.server.url, None).list()
        self.assertNotIn("authorization", self.headers())

    def test_errors(self):
        self.fake.script.append(self.fake.error(429, "rate_limited", "60 requests a minute", {"Retry-After": "7"}))
        with self.assertRaises(VideosError) as cm:
            self.c.list()
        e = cm.exception
        self.assertIsInstance(e, fractal.FractalError)
        self.assertEqual((e.status, e.code, e.message, e.retry_after), (429, "rate_limited", "60 requests a minute", 7))
        self.assertIn("429 rate_limited: 60 requests a minute", str(e))
        self.assertEqual(self.seen[-1]["status"], 429)
        self.assertEqual(self.seen[-1]["headers"].get("Retry-After"), "7")
        with self.assertRaises(VideosError) as cm:
            self.c.create("x", colour="red")
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.retry_after), (400, "bad_request", None))
        self.assertIn("colour", cm.exception.message)
        with self.assertRaises(VideosError) as cm:
            VideosClient(self.server.url, OTHER[:-1] + "3").get("video_x")
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))
        self.fake.script.append((502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"))
        with self.assertRaises(VideosError) as cm:
            self.c.get("video_x")
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.message),
                         (502, "http_502", "<html>Bad Gateway</html>"))
        dead = Server(Fake())
        dead.close()
        with self.assertRaises(VideosError) as cm:
            VideosClient(dead.url, KEY, timeout=2).list()
        self.assertEqual((cm.exception.status, cm.exception.code), (None, "connection_failed"))

    def test_range_and_variant(self):
        v = self.c.create("x", frames=2, size="32x32")
        self.c.get(v["id"])
        self.c.get(v["id"])
        self.assertEqual(self.c.content(v["id"]), MP4)
        self.assertNotIn("range", self.headers())
        self.assertEqual(self.c.content(v["id"], byte_range=(0, 99)), MP4[:100])
        self.assertEqual(self.headers()["range"], "bytes=0-99")
        self.assertEqual(self.seen[-1]["status"], 206)
        self.assertEqual(self.seen[-1]["headers"]["Content-Range"], "bytes 0-99/%d" % len(MP4))
        self.assertEqual(self.c.content(v["id"], byte_range=(10, None)), MP4[10:])
        self.assertEqual(self.headers()["range"], "bytes=10-")
        self.assertEqual(self.c.content(v["id"], byte_range=(None, 5)), MP4[-5:])
        self.assertEqual(self.headers()["range"], "bytes=-5")
        with self.assertRaises(VideosError) as cm:
            self.c.content(v["id"], byte_range=(len(MP4), len(MP4) + 9))
        self.assertEqual(cm.exception.status, 416)
        self.assertEqual(self.c.content(v["id"], variant="thumbnail"), PNG)
        self.assertEqual(self.fake.log[-1][1], "/v1/videos/%s/content?variant=thumbnail" % v["id"])
        self.assertEqual(self.seen[-1]["content_type"], "image/png")
        for bad in ((5, 4), (-1, 3), (1.5, 2), (None, None), (None, 0), (True, 3), 7, (1, 2, 3)):
            with self.assertRaises(ValueError):
                range_header(bad)
        with self.assertRaises(ValueError):
            self.c.content(v["id"], variant="gif")
        with tempfile.TemporaryDirectory() as d:
            path = self.c.save(v["id"], os.path.join(d, "v.mp4"))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), MP4)
            self.c.save(v["id"], os.path.join(d, "t.png"), variant="thumbnail")
            with self.assertRaises(VideosError):
                self.c.save("video_none", os.path.join(d, "n.mp4"))
            self.assertEqual(sorted(os.listdir(d)), ["t.png", "v.mp4"])  # nothing left of the failed one

    def test_list_and_delete(self):
        a = self.c.create("a", frames=1, size="32x32")
        b = self.c.create("b", frames=1, size="32x32")
        page = self.c.list(limit=1, after=b["id"])
        self.assertEqual(self.fake.log[-1][1], "/v1/videos?limit=1&after=" + b["id"])
        self.assertEqual(([v["id"] for v in page["data"]], page["has_more"]), ([a["id"]], False))
        self.assertEqual(self.c.list()["first_id"], b["id"])
        self.assertEqual(self.fake.log[-1][1], "/v1/videos")
        self.assertEqual(self.c.delete(a["id"]), {"id": a["id"], "object": "video.deleted", "deleted": True})
        self.assertEqual(self.fake.log[-1][0], "DELETE")
        with self.assertRaises(VideosError) as cm:
            self.c.get(a["id"])
        self.assertEqual((cm.exception.status, cm.exception.code), (404, "not_found"))

    def test_wait(self):
        v = self.c.create("x", frames=1, size="32x32")
        self.fake.script.append(self.fake.error(429, "rate_limited", "slow down", {"Retry-After": "0"}))
        done = self.c.wait(v["id"], timeout=5, poll=0.01)
        self.assertEqual((done["status"], done["progress"]), ("completed", 100))
        self.fake.fail = True
        v = self.c.create("y", frames=1, size="32x32")
        with self.assertRaises(VideosError) as cm:
            self.c.wait(v["id"], timeout=5, poll=0.01)
        e = cm.exception
        self.assertEqual((e.status, e.code, e.video["status"]), (None, "provers_failed", "failed"))
        self.assertIn("every prover tried gave no valid answer", str(e))
        v = self.c.create("z", frames=1, size="32x32")
        for _ in range(100):
            self.fake.script.append(self.fake.json(200, v))  # queued for ever
        t0 = time.monotonic()
        with self.assertRaises(VideosError) as cm:
            self.c.wait(v["id"], timeout=0.2, poll=0.05)
        self.assertEqual(cm.exception.code, "timeout")
        self.assertLess(time.monotonic() - t0, 2)

    def test_import_without_numpy(self):
        code = ("import sys; sys.modules['numpy'] = None\n"
                "import fractal\n"
                "assert fractal.VideosClient is fractal.videos.VideosClient\n"
                "assert issubclass(fractal.VideosError, fractal.FractalError)\n"
                "try:\n    fractal.Model('/nonexistent')\n"
                "except ImportError as e:\n    assert 'numpy' in str(e), e\n"
                "else:\n    raise SystemExit('Model without numpy did not raise')\n"
                "print('ok')\n")
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "ok"), out.stderr)


@unittest.skipUnless(HAVE_REPO, "needs the repository's docs/openapi-videos.json and tests/openapi_check.py")
class OpenAPITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = openapi_check.load(OPENAPI)

    def test_document(self):
        self.assertEqual(openapi_check.check(self.doc), [])
        self.assertEqual(self.doc["openapi"], "3.0.3")
        ops = {(m.upper(), p) for p, item in self.doc["paths"].items() for m in item if m != "parameters"}
        self.assertEqual(ops, {("POST", "/v1/videos"), ("GET", "/v1/videos"), ("GET", "/v1/videos/{id}"),
                               ("DELETE", "/v1/videos/{id}"), ("GET", "/v1/videos/{id}/content")})
        for p, item in self.doc["paths"].items():
            for m, op in item.items():
                for code, r in op.get("responses", {}).items() if m != "parameters" else ():
                    if code[0] in "45":
                        self.assertEqual(r["content"]["application/json"]["schema"],
                                         {"$ref": "#/components/schemas/Error"}, (m, p, code))
        broken = json.loads(json.dumps(self.doc))
        broken["paths"]["/v1/videos"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = \
            {"$ref": "#/components/schemas/Nope"}
        del broken["paths"]["/v1/videos/{id}"]["delete"]["responses"]
        problems = openapi_check.check(broken)
        self.assertTrue(any("unresolved reference: #/components/schemas/Nope" in p for p in problems), problems)
        self.assertTrue(any("DELETE /v1/videos/{id}: no responses" in p for p in problems), problems)

    def test_catches_a_wrong_video(self):
        v = self.doc["components"]["schemas"]["Video"]["example"]

        def check(obj, status=200, path="/v1/videos/" + v["id"], ctype="application/json"):
            return openapi_check.validate(self.doc, "GET", path, status, ctype, json.dumps(obj).encode())

        self.assertEqual(check(v), [])
        self.assertEqual(check(dict(v, status="queued", progress=0, digest=None)), [])
        no_status = dict(v)
        del no_status["status"]
        self.assertIn("missing required property 'status'", " ".join(check(no_status)))
        self.assertIn('"done" is not one of', " ".join(check(dict(v, status="done"))))
        self.assertIn("does not match", " ".join(check(dict(v, prover="8cd1...34b6"))))
        self.assertIn("above the maximum 100", " ".join(check(dict(v, progress=101))))
        self.assertIn("string where integer is required", " ".join(check(dict(v, created_at="1796668000"))))
        self.assertIn("unexpected property 'fps'", " ".join(check(dict(v, job=dict(v["job"], fps=8)))))
        self.assertIn("is not documented", " ".join(check(v, status=201)))
        self.assertIn("content type", " ".join(check(v, ctype="text/plain")))
        self.assertIn("no path", " ".join(check(v, path="/v1/video")))
        err = openapi_check.validate(self.doc, "GET", "/v1/videos/x/content", 429, "application/json",
                                     b'{"error": {"code": "rate_limited", "message": "m"}}', {})
        self.assertIn("missing header Retry-After", " ".join(err))

    def test_every_fake_response_conforms(self):
        fake = Fake()
        server = Server(fake)
        try:
            seen = []
            c = VideosClient(server.url, KEY, record=seen)
            v = c.create("x", frames=2, size="32x32", seed=5)
            c.get(v["id"])
            for fn, args in ((c.content, (v["id"],)), (c.create, ("x",)), (c.list, ())):
                try:
                    fn(*args, **({"limit": 0} if fn == c.list else {"model": "0" * 32} if fn == c.create else {}))
                except VideosError:
                    pass
            c.wait(v["id"], poll=0.01)
            c.content(v["id"], byte_range=(0, 9))
            c.content(v["id"], variant="thumbnail")
            c.list()
            c.delete(v["id"])
            self.assertEqual([r["status"] for r in seen], [201, 200, 409, 422, 400, 200, 206, 200, 200, 200])
            for r in seen:
                self.assertEqual(openapi_check.validate(self.doc, r["method"], r["path"], r["status"],
                                                        r["content_type"], r["body"], r["headers"]), [], r)
        finally:
            server.close()

    def run_live_script(self, fake):
        server = Server(fake)
        try:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([PYTHON_DIR, TESTS]))
            return subprocess.run([sys.executable, os.path.join(TESTS, "videos_client.py"), server.url, KEY, OTHER,
                                   OPENAPI], env=env, capture_output=True, text=True, timeout=60)
        finally:
            server.close()

    def test_videos_client_script_against_the_fake(self):
        out = self.run_live_script(Fake())
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn("FAIL", out.stdout)
        self.assertIn("ok   openapi: GET /v1/videos/{id}/content 206", out.stdout)
        out = self.run_live_script(Fake(broken=True))  # digest F9FC, progress 99, a list without has_more
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        fails = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
        for want in ("completed: progress 100", "completed: digest is 32 hex digits",
                     "openapi: GET /v1/videos 200", "openapi: GET /v1/videos/{id} 200"):
            self.assertTrue(any(line.startswith("FAIL " + want) for line in fails), (want, fails))


if __name__ == "__main__":
    unittest.main()
