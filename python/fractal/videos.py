"""A client of the verifier's videos API (docs/videos.md, docs/openapi-videos.json), standard library only.

    import fractal
    c = fractal.VideosClient("http://127.0.0.1:8092", "fk_...")
    v = c.create("a lighthouse in a storm", seconds=2, size="64x64")
    v = c.wait(v["id"])                  # polls until completed; raises VideosError if it failed
    c.save(v["id"], "lighthouse.mp4")

Every error answer ({"error": {"code", "message"}}) is raised as VideosError(status, code, message,
retry_after).
"""

import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from . import FractalError

__all__ = ["VideosClient", "VideosError"]


class VideosError(FractalError):
    """An error of the videos API: the HTTP status, the error's code and message, Retry-After (seconds, or
    None). A video that failed (wait) has status None, its error's code and message, and .video; a wait that
    timed out has status None and code "timeout"; a connection that failed has status None and code
    "connection_failed"."""

    def __init__(self, status, code, message, retry_after=None, video=None):
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.video = video
        super().__init__("%s%s: %s" % ("%s " % status if status is not None else "", code, message))


def _retry_after(value):
    if value is None:
        return None
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return None


def _error_from(status, headers, body):
    code, message = "http_%d" % status, ""
    try:
        err = json.loads(body.decode("utf-8"))["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        message = body[:200].decode("utf-8", "replace").strip()
    return VideosError(status, code, message or "HTTP %d" % status, _retry_after(headers.get("Retry-After")))


class VideosClient:
    """base_url: the verifier ("http://host:port"); api_key: a key of `fractald keys create` (None sends no
    Authorization). record: a list to which every response is appended as {"method", "path" (with its query),
    "status", "content_type", "body" (bytes), "headers" (a dict)}, e.g. to check them against the OpenAPI
    document (tests/openapi_check.py)."""

    def __init__(self, base_url, api_key, timeout=30, record=None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.record = record
        host = (urllib.parse.urlsplit(self.base_url).hostname or "").lower()
        # A verifier on this machine is reached directly, whatever http_proxy says.
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        self._opener = urllib.request.build_opener(*handlers)

    # The one place that talks HTTP: (status, headers, body) of a 2xx answer; an error answer is raised.
    def _request(self, method, path, body=None, headers=None, sink=None):
        hdrs = {"Accept": "application/json", "User-Agent": "fractal-python"}
        if self.api_key is not None:
            hdrs["Authorization"] = "Bearer %s" % self.api_key
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base_url + path, data=data, headers=hdrs, method=method)
        where = "%s %s" % (method, self.base_url + path)
        try:
            resp = self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            status, rh = e.code, e.headers
            try:
                raw = e.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                e.close()
            self._record(method, path, status, rh, raw)
            raise _error_from(status, rh, raw) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise VideosError(None, "connection_failed", "%s: %s" % (where, getattr(e, "reason", None) or e)) \
                from None
        with resp:
            status, rh = resp.status, resp.headers
            raw = self._read(resp, sink, where)
        self._record(method, path, status, rh, raw)
        return status, rh, raw

    def _read(self, resp, sink, where):
        """The body (to sink, a file, when given; then the bytes only when recording)."""
        def read(n=None):
            try:
                return resp.read(n)
            except (OSError, http.client.HTTPException) as e:
                raise VideosError(None, "connection_failed", "%s: reading the answer: %s" % (where, e)) from None
        if sink is None:
            return read()
        kept = [] if self.record is not None else None
        while True:
            chunk = read(1 << 20)
            if not chunk:
                break
            sink.write(chunk)
            if kept is not None:
                kept.append(chunk)
        return b"".join(kept) if kept is not None else b""

    def _record(self, method, path, status, headers, body):
        if self.record is not None:
            self.record.append({"method": method, "path": path, "status": status,
                                "content_type": headers.get("Content-Type", ""), "body": body,
                                "headers": dict(headers.items())})

    def _json(self, method, path, body=None):
        status, headers, raw = self._request(method, path, body)
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise VideosError(status, "bad_response", "%s %s: the answer is not JSON" % (method, path)) from None

    @staticmethod
    def _id(video_id):
        return urllib.parse.quote(str(video_id), safe="")

    def create(self, prompt, **fields):
        """POST /v1/videos: the video object (status "queued"). fields: negative_prompt, seed, size ("WxH"),
        frames or seconds, fps, steps, guidance, scheduler, model; a field given as None is left out (the
        server's default). Fields are sent as given, so the server judges them."""
        body = {"prompt": prompt}
        body.update((k, v) for k, v in fields.items() if v is not None)
        return self._json("POST", "/v1/videos", body)

    def get(self, video_id):
        """GET /v1/videos/{id}: the video object."""
        return self._json("GET", "/v1/videos/" + self._id(video_id))

    def list(self, limit=None, after=None):
        """GET /v1/videos: {"object": "list", "data": [videos, newest first], "has_more", "first_id",
        "last_id"}; limit 1..100 (the server's default 20), after: the id the page starts after."""
        query = [(k, v) for k, v in (("limit", limit), ("after", after)) if v is not None]
        return self._json("GET", "/v1/videos" + ("?" + urllib.parse.urlencode(query) if query else ""))

    def delete(self, video_id):
        """DELETE /v1/videos/{id}: {"id", "object": "video.deleted", "deleted": true}."""
        return self._json("DELETE", "/v1/videos/" + self._id(video_id))

    def _content_request(self, video_id, variant, byte_range):
        if variant not in ("video", "thumbnail"):
            raise ValueError("variant must be 'video' or 'thumbnail', not %r" % (variant,))
        path = "/v1/videos/%s/content" % self._id(video_id)
        if variant != "video":
            path += "?" + urllib.parse.urlencode({"variant": variant})
        headers = {"Accept": "video/mp4" if variant == "video" else "image/png"}
        if byte_range is not None:
            headers["Range"] = range_header(byte_range)
        return path, headers

    def content(self, video_id, variant="video", byte_range=None):
        """GET /v1/videos/{id}/content: the MP4's bytes (variant "thumbnail": the PNG contact sheet's).
        byte_range: (start, end), both inclusive (end None: to the end), sent as Range: bytes=start-end; the
        answer is then those bytes (206)."""
        path, headers = self._content_request(video_id, variant, byte_range)
        return self._request("GET", path, headers=headers)[2]

    def save(self, video_id, path, variant="video"):
        """Writes the content to path (a temporary file beside it, then renamed); returns path."""
        rpath, headers = self._content_request(video_id, variant, None)
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(prefix=".fractal-", dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "wb") as f:
                self._request("GET", rpath, headers=headers, sink=f)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path

    def wait(self, video_id, timeout=600, poll=1.0):
        """Polls GET /v1/videos/{id} every poll seconds until the video is completed (returns it) or failed
        (raises VideosError with its error's code and message, .video the object); raises VideosError code
        "timeout" after timeout seconds. A 429 rate_limited answer is waited out (Retry-After) and polling
        goes on."""
        deadline = time.monotonic() + timeout
        video = None
        while True:
            try:
                video = self.get(video_id)
            except VideosError as e:
                if e.status != 429 or e.code != "rate_limited":
                    raise
                delay = e.retry_after if e.retry_after is not None else poll
            else:
                status = video.get("status")
                if status == "completed":
                    return video
                if status == "failed":
                    err = video.get("error") or {}
                    raise VideosError(None, err.get("code", "failed"),
                                      err.get("message", "the video failed"), video=video)
                delay = poll
            left = deadline - time.monotonic()
            if left <= 0:
                raise VideosError(None, "timeout", "%s is still %s after %g s" % (
                    video_id, video.get("status") if video else "unknown", timeout), video=video)
            time.sleep(min(max(delay, 0), left))


def range_header(byte_range):
    """(start, end) inclusive -> "bytes=start-end"; (start, None) -> "bytes=start-"; (None, n) -> the last n
    bytes, "bytes=-n"."""
    try:
        start, end = byte_range
    except (TypeError, ValueError):
        raise ValueError("byte_range must be a (start, end) tuple, not %r" % (byte_range,)) from None
    for v in (start, end):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ValueError("byte_range: %r is not a byte offset" % (v,))
    if start is None:
        if end is None or end == 0:
            raise ValueError("byte_range: (None, n) needs n > 0")
        return "bytes=-%d" % end
    if end is not None and end < start:
        raise ValueError("byte_range: end %d is before start %d" % (end, start))
    return "bytes=%d-%s" % (start, "" if end is None else "%d" % end)
