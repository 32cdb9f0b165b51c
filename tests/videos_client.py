#!/usr/bin/env python3
"""The videos API (docs/videos.md) of a live verifier, through the Python client (python/fractal/videos.py),
with every response checked against the OpenAPI document (docs/openapi-videos.json, tests/openapi_check.py).

Creates one small video, waits for it, fetches it whole, by range and as a thumbnail, lists it, checks that
another key cannot see or delete it, that bad requests are 400 and bad keys 401, deletes it. KEY and
OTHER_KEY are two valid keys (fractald keys create); a rate_limited answer is waited out (Retry-After).
Prints "ok   ..." / "FAIL ..." lines; exits 1 on any failure.
Usage: videos_client.py URL KEY OTHER_KEY OPENAPI_JSON
"""
import json
import os
import re
import sys
import tempfile
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
try:
    from fractal.videos import VideosClient, VideosError
except ImportError:
    sys.path.insert(0, os.path.join(here, "..", "python"))
    from fractal.videos import VideosClient, VideosError
import openapi_check  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
WAIT_S = 300

fails = 0
checks = 0


def check(cond, what, detail=None):
    global fails, checks
    checks += 1
    if cond:
        print("ok   " + what)
    else:
        fails += 1
        print("FAIL " + what + ("" if detail is None else ": " + str(detail)[:400]))
    sys.stdout.flush()
    return bool(cond)


class Client(VideosClient):
    """The client, waiting out rate_limited answers (the test is not about the rate)."""

    def _request(self, *args, **kw):
        for attempt in range(5):
            try:
                return super()._request(*args, **kw)
            except VideosError as e:
                if e.status != 429 or e.code != "rate_limited" or attempt == 4:
                    raise
                time.sleep(min(e.retry_after if e.retry_after is not None else 1, 61))


def error_of(fn, *args, **kw):
    """The VideosError fn raises, or the value it returned (then no error)."""
    try:
        return fn(*args, **kw)
    except VideosError as e:
        return e


def judge(what, status, code, got):
    """got (a VideosError, or what a call returned) is the error status/code (code None: any); returns the
    error when it is."""
    if not isinstance(got, VideosError):
        check(False, what, "no error; answered %s" % ("%d bytes" % len(got) if isinstance(got, bytes)
                                                      else json.dumps(got)[:200]))
        return None
    ok = got.status == status and (code is None or got.code == code)
    check(ok, what, "got %s %s: %s" % (got.status, got.code, got.message))
    return got if ok else None


def expect_error(what, status, code, fn, *args, **kw):
    return judge(what, status, code, error_of(fn, *args, **kw))


def step(name, fn):
    """Runs one group of checks; an exception is one failure, and the groups after it still run."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 -- report and go on
        check(False, "%s: %s: %s" % (name, type(e).__name__, e), traceback.format_exc().strip().splitlines()[-3:])


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip())
        return 2
    url, key, other_key, doc_path = argv[1:]
    doc = openapi_check.load(doc_path)
    problems = openapi_check.check(doc)
    check(not problems, "the OpenAPI document is well formed", problems)
    seen = []
    c = Client(url, key, timeout=30, record=seen)
    other = Client(url, other_key, timeout=30, record=seen)
    st = {}
    prompt = "a lighthouse in a storm (videos_client.py)"
    req = {"steps": 2, "frames": 2, "size": "32x32", "seed": 5}

    def create():
        t0 = int(time.time())
        v = c.create(prompt, **req)
        st["id"], st["created"] = v.get("id"), v
        check(seen[-1]["status"] == 201, "create: 201", seen[-1]["status"])
        check(v.get("object") == "video" and v.get("status") == "queued" and v.get("progress") == 0,
              "create: a video object, status queued, progress 0", {k: v.get(k) for k in ("object", "status",
                                                                                       "progress")})
        job = v.get("job") or {}
        want = {"job_id": v.get("id"), "prompt": prompt, "negative_prompt": "", "seed": 5, "steps": 2, "frames": 2,
                "height": 32, "width": 32, "guidance": 9, "scheduler": "dpm++2m", "model": v.get("model")}
        diff = {k: (job.get(k), w) for k, w in want.items() if job.get(k) != w}
        check(not diff and isinstance(job.get("seed"), int), "create: the job is the request's (seed 5, 32x32, "
              "2 steps, 2 frames, defaults; job_id the video's id)", diff)
        check((v.get("size"), v.get("frames"), v.get("fps"), v.get("seconds"), v.get("prompt"))
              == ("32x32", 2, 8, 0.25, prompt), "create: size 32x32, frames 2, fps 8, seconds 0.25, the prompt",
              (v.get("size"), v.get("frames"), v.get("fps"), v.get("seconds")))
        check(isinstance(v.get("created_at"), int) and abs(v["created_at"] - t0) <= 120,
              "create: created_at is now", (v.get("created_at"), t0))

    def early():
        v = c.get(st["id"])
        check(v.get("id") == st["id"] and v.get("job") == st["created"].get("job"),
              "get: the same video, the same job as created", v.get("job"))
        if v.get("status") in ("queued", "in_progress"):
            got = error_of(c.content, st["id"])
            if isinstance(got, VideosError):
                check(got.status == 409 and got.code == "not_ready", "content before completion: 409 not_ready",
                      "%s %s" % (got.status, got.code))
            else:
                after = c.get(st["id"])
                check(after.get("status") == "completed", "content before completion: 409 not_ready "
                      "(or the video completed meanwhile)", "content answered while %s" % after.get("status"))
        else:
            print("ok   content before completion: not tried (already %s)" % v.get("status"))

    def wait():
        n0 = len(seen)
        t0 = time.monotonic()
        try:
            v = c.wait(st["id"], timeout=WAIT_S, poll=1.0)
        except VideosError as e:
            check(False, "wait: completed within %d s" % WAIT_S, e)
            return
        st["done"] = v
        check(v.get("status") == "completed", "wait: completed in %.1f s" % (time.monotonic() - t0))
        polled = [json.loads(r["body"]) for r in seen[n0:] if r["method"] == "GET" and r["status"] == 200]
        order = {"queued": 0, "in_progress": 1, "completed": 2}
        ranks = [(order.get(p.get("status"), -1), p.get("progress", -1)) for p in polled]
        check(ranks and ranks == sorted(ranks) and min(r[0] for r in ranks) >= 0,
              "wait: status and progress only move forward while polled", ranks)
        check(v.get("progress") == 100, "completed: progress 100", v.get("progress"))
        check(isinstance(v.get("digest"), str) and HEX32.match(v["digest"]), "completed: digest is 32 hex digits",
              v.get("digest"))
        check(isinstance(v.get("prover"), str) and HEX64.match(v["prover"]), "completed: prover is 64 hex digits",
              v.get("prover"))
        ck = v.get("check") or {}
        check(ck.get("decode") is True and ck.get("mode") in ("spot", "full"),
              "completed: check.decode true, check.mode spot or full", ck)
        times = [v.get(k) for k in ("created_at", "started_at", "completed_at", "expires_at")]
        check(all(isinstance(t, int) for t in times) and times[0] <= times[1] <= times[2] < times[3],
              "completed: created_at <= started_at <= completed_at < expires_at", times)
        check(v.get("job") == st["created"].get("job") and v.get("error") is None,
              "completed: the job as created, no error", v.get("error"))

    def content():
        mp4 = c.content(st["id"])
        st["mp4"] = mp4
        check(mp4[4:8] == b"ftyp" and seen[-1]["status"] == 200, "content: 200, an MP4 (ftyp at byte 4)",
              (seen[-1]["status"], mp4[:12]))
        check(seen[-1]["content_type"].split(";")[0].strip() == "video/mp4", "content: Content-Type video/mp4",
              seen[-1]["content_type"])
        part = c.content(st["id"], byte_range=(0, 99))
        r = seen[-1]
        cr = {k.lower(): v for k, v in r["headers"].items()}.get("content-range")
        check(r["status"] == 206 and part == mp4[:100], "content Range bytes=0-99: 206, those 100 bytes",
              (r["status"], len(part)))
        check(cr == "bytes 0-99/%d" % len(mp4), "content Range: Content-Range bytes 0-99/%d" % len(mp4), cr)
        mid = c.content(st["id"], byte_range=(len(mp4) - 10, None))
        check(seen[-1]["status"] == 206 and mid == mp4[-10:], "content Range bytes=N-: 206, the last 10 bytes",
              (seen[-1]["status"], len(mid)))
        expect_error("content Range past the end: 416", 416, None, c.content, st["id"],
                     byte_range=(len(mp4), len(mp4) + 10))
        png = c.content(st["id"], variant="thumbnail")
        check(png[:8] == PNG and seen[-1]["content_type"].split(";")[0].strip() == "image/png",
              "content ?variant=thumbnail: a PNG (image/png)", (png[:8], seen[-1]["content_type"]))
        with tempfile.TemporaryDirectory() as d:
            path = c.save(st["id"], os.path.join(d, "v.mp4"))
            with open(path, "rb") as f:
                check(f.read() == mp4, "save: the same bytes as content")

    def listing():
        page = c.list()
        ids = [v.get("id") for v in page.get("data", [])]
        check(page.get("object") == "list" and ids[:1] == [st["id"]] and page.get("first_id") == st["id"],
              "list: the video first (newest first), first_id", ids[:3])
        one = c.list(limit=1)
        check(len(one.get("data", [])) == 1 and one["data"][0].get("id") == st["id"]
              and one.get("has_more") == (len(ids) > 1) and one.get("last_id") == st["id"],
              "list limit=1: one video, has_more, last_id", {k: one.get(k) for k in ("has_more", "last_id")})
        expect_error("list limit=0: 400 bad_request", 400, "bad_request", c.list, limit=0)
        expect_error("list limit=101: 400 bad_request", 400, "bad_request", c.list, limit=101)

    def other_key():
        expect_error("another key: get is 404 not_found", 404, "not_found", other.get, st["id"])
        expect_error("another key: content is 404 not_found", 404, "not_found", other.content, st["id"])
        expect_error("another key: delete is 404 not_found", 404, "not_found", other.delete, st["id"])
        ids = [v.get("id") for v in other.list(limit=100).get("data", [])]
        check(st["id"] not in ids, "another key: its list does not hold the video")
        check(c.get(st["id"]).get("status") == "completed", "another key: the video is still there for its own")

    def bad_requests():
        for what, fields, names in (
                ("an unknown field", dict(req, colour="red"), ["colour"]),
                ("both frames and seconds", dict(req, seconds=1), ["frames", "seconds"]),
                ("steps 0", dict(req, steps=0), ["steps"]),
                ("size 33x32", dict(req, size="33x32"), ["size"]),
                ("scheduler euler", dict(req, scheduler="euler"), ["scheduler"]),
                ("a string seed", dict(req, seed="5"), ["seed"])):
            got = error_of(c.create, prompt, **fields)
            if isinstance(got, dict) and got.get("id"):
                error_of(c.delete, got["id"])  # wrongly taken: do not leave it to run
            ok = judge("create with %s: 400 bad_request" % what, 400, "bad_request", got)
            if ok:
                check(any(n in ok.message for n in names), "create with %s: the message names %s" % (
                    what, " or ".join(names)), ok.message)
        got = error_of(c._request, "POST", "/v1/videos", b'{"prompt": "x", ')
        judge("create with truncated JSON: 400 bad_request", 400, "bad_request",
              got if isinstance(got, VideosError) else got[2])
        got = error_of(c.create, prompt, **dict(req, model="0" * 32))
        if isinstance(got, dict) and got.get("id"):
            error_of(c.delete, got["id"])
        judge("create for another model: 422 model_not_served", 422, "model_not_served", got)

    def bad_keys():
        for what, k in (("an unknown key", "fk_" + "0" * 40), ("a malformed key", "not-a-key"), ("no key", None)):
            cl = Client(url, k, record=seen)
            got = expect_error("%s: list is 401 unauthorized" % what, 401, "unauthorized", cl.list)
            if got is not None:
                h = {a.lower(): b for a, b in seen[-1]["headers"].items()}
                check(h.get("www-authenticate", "").startswith("Bearer"), "%s: WWW-Authenticate: Bearer" % what,
                      h.get("www-authenticate"))
            if st.get("id"):
                expect_error("%s: get is 401 unauthorized" % what, 401, "unauthorized", cl.get, st["id"])

    def delete():
        d = c.delete(st["id"])
        check(d == {"id": st["id"], "object": "video.deleted", "deleted": True},
              "delete: {id, object video.deleted, deleted true}", d)
        expect_error("deleted: get is 404 not_found", 404, "not_found", c.get, st["id"])
        expect_error("deleted: content is 404 not_found", 404, "not_found", c.content, st["id"])
        expect_error("deleted: delete again is 404 not_found", 404, "not_found", c.delete, st["id"])
        ids = [v.get("id") for v in c.list(limit=100).get("data", [])]
        check(st["id"] not in ids, "deleted: not in the list")

    step("create", create)
    if st.get("id"):
        step("get", early)
        step("wait", wait)
        if st.get("done"):
            step("content", content)
            step("list", listing)
            step("another key", other_key)
    step("bad requests", bad_requests)
    step("bad keys", bad_keys)
    if st.get("id"):
        step("delete", delete)

    # Every response seen, against the OpenAPI document: one line per kind of response, one per problem.
    kinds = {}
    for r in seen:
        kind = "%s %s %d" % (r["method"], re.sub(r"/video_[^/?]+", "/{id}", r["path"]), r["status"])
        problems = openapi_check.validate(doc, r["method"], r["path"], r["status"], r["content_type"], r["body"],
                                          r["headers"])
        k = kinds.setdefault(kind, [0, []])
        k[0] += 1
        k[1] += [p for p in problems if p not in k[1]]
    for kind, (n, problems) in sorted(kinds.items()):
        check(not problems, "openapi: %s (%d response%s)" % (kind, n, "" if n == 1 else "s"),
              "; ".join(problems[:5]))
    print("videos_client: %d checks, %d failed, %d responses checked against %s" % (checks, fails, len(seen),
                                                                                     doc_path))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
