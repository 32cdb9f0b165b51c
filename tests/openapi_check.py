#!/usr/bin/env python3
"""Checks HTTP responses against an OpenAPI 3.0 document (docs/openapi-videos.json), standard library only.

As a module:
  doc = load(path)
  problems = validate(doc, method, path, status, content_type, body_bytes, headers=None)  # [] = conforms
    finds the operation whose path template matches the concrete path ({name} matches one segment; a query
    string is ignored), checks the status is documented for it (or a 2XX-style range, or default), the
    content type is one documented for that status, the headers the response marks required are present
    (when headers are given), and validates a JSON body against its schema.
  problems = check(doc)   # the document is well formed for the subset below
  problems = validate_schema(doc, schema, value)

The schema subset: type (object, array, string, integer, number, boolean), nullable, required, properties,
additionalProperties (false or a schema), enum, pattern, minimum/maximum (exclusiveMinimum/exclusiveMaximum
as 3.0 booleans), minLength/maxLength, items, minItems/maxItems, not, $ref (local: #/components/...), and the
annotations description, default, example, format, title, readOnly, writeOnly.

From the command line:
  openapi_check.py DOC                                        -- is DOC well formed (exit 0/1)
  openapi_check.py DOC METHOD PATH STATUS CONTENT_TYPE [BODY]  -- does this response conform (BODY a file, -
                                                                  stdin; none: an empty body)
"""
import json
import re
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_KEYS = {"type", "nullable", "required", "properties", "additionalProperties", "enum", "pattern", "minimum",
               "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "items", "minItems",
               "maxItems", "not", "$ref", "description", "default", "example", "format", "title", "readOnly",
               "writeOnly"}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(doc, ref):
    """The object a local $ref ("#/components/schemas/Video") names; KeyError if none."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise KeyError("not a local reference: %r" % (ref,))
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise KeyError("unresolved reference: %s" % ref)
        node = node[part]
    return node


def _deref(doc, obj, seen=None):
    """Follows $ref chains (responses, parameters, schemas)."""
    seen = seen or set()
    while isinstance(obj, dict) and "$ref" in obj:
        if obj["$ref"] in seen:
            raise KeyError("reference cycle at %s" % obj["$ref"])
        seen.add(obj["$ref"])
        obj = resolve(doc, obj["$ref"])
    return obj


def _type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    return False


def _jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _eq(a, b):
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def validate_schema(doc, schema, value, where="$"):
    """The problems of value against schema (a list of strings, each naming where in the value)."""
    out = []
    try:
        schema = _deref(doc, schema)
    except KeyError as e:
        return ["%s: %s" % (where, e.args[0])]
    if not isinstance(schema, dict):
        return ["%s: the schema is not an object" % where]
    if value is None:
        if schema.get("nullable") is True or schema == {}:
            return []
        return ["%s: null where %s is required" % (where, schema.get("type", "a value"))]
    t = schema.get("type")
    if t is not None and not _type_ok(t, value):
        return ["%s: %s where %s is required" % (where, _jtype(value), t)]
    if "enum" in schema and not any(_eq(value, e) for e in schema["enum"]):
        out.append("%s: %s is not one of %s" % (where, json.dumps(value), json.dumps(schema["enum"])))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append("%s: %s does not match %s" % (where, json.dumps(value), schema["pattern"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append("%s: shorter than %d characters" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append("%s: longer than %d characters" % (where, schema["maxLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            lo, ex = schema["minimum"], schema.get("exclusiveMinimum") is True
            if value < lo or (ex and value == lo):
                out.append("%s: %s is below the minimum %s%s" % (where, value, lo, " (exclusive)" if ex else ""))
        if "maximum" in schema:
            hi, ex = schema["maximum"], schema.get("exclusiveMaximum") is True
            if value > hi or (ex and value == hi):
                out.append("%s: %s is above the maximum %s%s" % (where, value, hi, " (exclusive)" if ex else ""))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append("%s: missing required property %r" % (where, name))
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            sub = "%s.%s" % (where, name)
            if name in props:
                out += validate_schema(doc, props[name], v, sub)
            elif extra is False:
                out.append("%s: unexpected property %r" % (where, name))
            elif isinstance(extra, dict):
                out += validate_schema(doc, extra, v, sub)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append("%s: more than %d items" % (where, schema["maxItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                out += validate_schema(doc, schema["items"], v, "%s[%d]" % (where, i))
    if "not" in schema and not validate_schema(doc, schema["not"], value, where):
        out.append("%s: matches the schema it must not (%s)" % (where, json.dumps(schema["not"])))
    return out


def _template_re(template):
    parts = re.split(r"(\{[^/{}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p)
                                    for p in parts) + "$")


def find_operation(doc, method, path):
    """(template, operation) for a concrete request path (its query string ignored); a literal template wins
    over one with parameters. (None, None) when no template matches; (template, None) when the method is not
    documented for it."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    hits = [t for t in doc.get("paths", {}) if _template_re(t).match(path)]
    if not hits:
        return None, None
    hits.sort(key=lambda t: (t.count("{"), -len(t)))
    item = _deref(doc, doc["paths"][hits[0]])
    return hits[0], item.get(method.lower())


def _media(content_type):
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media):
    return media == "application/json" or media.endswith("+json")


def validate(doc, method, path, status, content_type, body_bytes, headers=None):
    """The problems of one response (a list of strings; empty: it conforms). headers (a mapping, optional):
    the response's headers, to check the ones the document marks required."""
    where = "%s %s %s" % (method.upper(), path, status)
    template, op = find_operation(doc, method, path)
    if template is None:
        return ["%s: no path in the document matches %s" % (where, path.split("?", 1)[0])]
    if op is None:
        return ["%s: %s is not documented for %s" % (where, method.upper(), template)]
    responses = op.get("responses", {})
    code = str(int(status))
    resp = responses.get(code) or responses.get(code[0] + "XX") or responses.get("default")
    if resp is None:
        return ["%s: status %s is not documented for %s %s (documented: %s)"
                % (where, code, method.upper(), template, ", ".join(sorted(responses)))]
    try:
        resp = _deref(doc, resp)
    except KeyError as e:
        return ["%s: %s" % (where, e.args[0])]
    out = []
    if headers is not None:
        have = {k.lower() for k in headers}
        for name, h in (resp.get("headers") or {}).items():
            h = _deref(doc, h)
            if h.get("required") and name.lower() not in have:
                out.append("%s: missing header %s" % (where, name))
            elif name.lower() in have and "schema" in h:
                value = next(v for k, v in headers.items() if k.lower() == name.lower())
                schema = _deref(doc, h["schema"])
                if schema.get("type") == "integer":
                    try:
                        value = int(value)
                    except ValueError:
                        out.append("%s: header %s: %r is not an integer" % (where, name, value))
                        continue
                out += validate_schema(doc, schema, value, "%s: header %s" % (where, name))
    content = resp.get("content") or {}
    body_bytes = body_bytes or b""
    if not content:
        if body_bytes and method.upper() != "HEAD":
            out.append("%s: a body where the document says none" % where)
        return out
    media = _media(content_type)
    entry = content.get(media)
    if entry is None:
        entry = content.get(media.split("/", 1)[0] + "/*") or content.get("*/*")
    if entry is None:
        return out + ["%s: content type %r is not one documented (%s)"
                      % (where, content_type, ", ".join(sorted(content)))]
    if _is_json(media) and "schema" in entry:
        try:
            value = json.loads(body_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return out + ["%s: the body is not JSON: %s" % (where, e)]
        out += ["%s: %s" % (where, p) for p in validate_schema(doc, entry["schema"], value)]
    elif "schema" in entry and _deref(doc, entry["schema"]).get("format") == "binary" and not body_bytes:
        out.append("%s: an empty %s body" % (where, media))
    return out


def _check_schema(doc, schema, where, out):
    if not isinstance(schema, dict):
        out.append("%s: a schema must be an object" % where)
        return
    if "$ref" in schema:
        try:
            resolve(doc, schema["$ref"])
        except KeyError as e:
            out.append("%s: %s" % (where, e.args[0]))
        if len(schema) > 1:
            out.append("%s: $ref with siblings (ignored in OpenAPI 3.0): %s" % (where, sorted(set(schema) - {"$ref"})))
        return
    for k in schema:
        if k not in SCHEMA_KEYS:
            out.append("%s: keyword %r is outside the subset openapi_check supports" % (where, k))
    t = schema.get("type")
    if t is not None and t not in TYPES:
        out.append("%s: unknown type %r" % (where, t))
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except re.error as e:
            out.append("%s: bad pattern %r: %s" % (where, schema["pattern"], e))
    req = schema.get("required", [])
    if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
        out.append("%s: required must be a list of names" % where)
    elif "properties" in schema and schema.get("additionalProperties") is False:
        for r in req:
            if r not in schema["properties"]:
                out.append("%s: required %r is not among the properties" % (where, r))
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(doc, sub, "%s.properties.%s" % (where, name), out)
    if isinstance(schema.get("additionalProperties"), dict):
        _check_schema(doc, schema["additionalProperties"], where + ".additionalProperties", out)
    elif schema.get("additionalProperties", True) is not True and schema.get("additionalProperties") is not False:
        out.append("%s: additionalProperties must be a boolean or a schema" % where)
    if "items" in schema:
        _check_schema(doc, schema["items"], where + ".items", out)
    elif t == "array":
        out.append("%s: an array schema needs items" % where)
    if "not" in schema:
        _check_schema(doc, schema["not"], where + ".not", out)
    for k in ("enum",):
        if k in schema and (not isinstance(schema[k], list) or not schema[k]):
            out.append("%s: enum must be a non-empty list" % where)
    for k in ("example", "default"):
        if k in schema:
            for p in validate_schema(doc, schema, schema[k]):
                out.append("%s: its %s does not conform: %s" % (where, k, p))


def _walk_refs(doc, node, where, out):
    if isinstance(node, dict):
        if "$ref" in node:
            try:
                resolve(doc, node["$ref"])
            except KeyError as e:
                out.append("%s: %s" % (where, e.args[0]))
        for k, v in node.items():
            _walk_refs(doc, v, "%s/%s" % (where, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_refs(doc, v, "%s/%d" % (where, i), out)


def check(doc):
    """The problems of the document itself (a list of strings; empty: well formed for this subset)."""
    out = []
    if not isinstance(doc, dict):
        return ["the document is not a JSON object"]
    if not re.match(r"^3\.0\.\d+$", str(doc.get("openapi", ""))):
        out.append("openapi: %r is not 3.0.x" % doc.get("openapi"))
    info = doc.get("info")
    if not isinstance(info, dict) or "title" not in info or "version" not in info:
        out.append("info: needs title and version")
    _walk_refs(doc, doc, "#", out)
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    for req in doc.get("security", []):
        for name in req:
            if name not in schemes:
                out.append("security: %r is not in components.securitySchemes" % name)
    for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
        _check_schema(doc, schema, "#/components/schemas/" + name, out)
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        return out + ["paths: none"]
    ops = set()
    for template, item in paths.items():
        if not template.startswith("/"):
            out.append("%s: a path must start with /" % template)
        try:
            item = _deref(doc, item)
        except KeyError:
            continue
        names = set(re.findall(r"\{([^/{}]+)\}", template))
        shared = item.get("parameters", [])
        for method in item:
            if method in ("parameters", "summary", "description", "servers") or method.startswith("x-"):
                continue
            op = item[method]
            where = "%s %s" % (method.upper(), template)
            if method not in METHODS:
                out.append("%s: unknown method" % where)
                continue
            oid = op.get("operationId")
            if oid:
                if oid in ops:
                    out.append("%s: operationId %r used twice" % (where, oid))
                ops.add(oid)
            params = {}
            for p in shared + op.get("parameters", []):
                try:
                    p = _deref(doc, p)
                except KeyError:
                    continue
                if p.get("in") not in ("path", "query", "header", "cookie") or not p.get("name"):
                    out.append("%s: a parameter needs a name and in (path, query, header, cookie)" % where)
                    continue
                params[(p["in"], p["name"])] = p
                if "schema" in p:
                    _check_schema(doc, p["schema"], "%s: parameter %s" % (where, p["name"]), out)
                else:
                    out.append("%s: parameter %s has no schema" % (where, p["name"]))
            for n in names:
                p = params.get(("path", n))
                if p is None:
                    out.append("%s: path parameter {%s} is not declared" % (where, n))
                elif p.get("required") is not True:
                    out.append("%s: path parameter {%s} must be required" % (where, n))
            for (loc, n) in params:
                if loc == "path" and n not in names:
                    out.append("%s: path parameter %s is not in the path" % (where, n))
            if "requestBody" in op:
                body = _deref(doc, op["requestBody"])
                for media, entry in (body.get("content") or {}).items():
                    if "schema" in entry:
                        _check_schema(doc, entry["schema"], "%s: request %s" % (where, media), out)
                if not body.get("content"):
                    out.append("%s: requestBody without content" % where)
            responses = op.get("responses")
            if not isinstance(responses, dict) or not responses:
                out.append("%s: no responses" % where)
                continue
            for code, resp in responses.items():
                rw = "%s %s" % (where, code)
                if not re.match(r"^([1-5][0-9][0-9]|[1-5]XX|default)$", code):
                    out.append("%s: not a status code" % rw)
                try:
                    resp = _deref(doc, resp)
                except KeyError:
                    continue
                if "description" not in resp:
                    out.append("%s: a response needs a description" % rw)
                for media, entry in (resp.get("content") or {}).items():
                    if "schema" in entry:
                        _check_schema(doc, entry["schema"], "%s %s" % (rw, media), out)
                for name, h in (resp.get("headers") or {}).items():
                    h = _deref(doc, h)
                    if "schema" in h:
                        _check_schema(doc, h["schema"], "%s: header %s" % (rw, name), out)
    return out


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    try:
        doc = load(argv[1])
    except (OSError, ValueError) as e:
        print("FAIL %s: %s" % (argv[1], e))
        return 1
    if len(argv) == 2:
        problems = check(doc)
        for p in problems:
            print("FAIL " + p)
        n = sum(1 for item in doc.get("paths", {}).values() for m in item if m in METHODS)
        print("%s %s: %d operations, %d schemas, %d problems" % ("ok  " if not problems else "FAIL", argv[1], n,
              len((doc.get("components") or {}).get("schemas") or {}), len(problems)))
        return 1 if problems else 0
    if len(argv) not in (6, 7):
        print(__doc__.strip())
        return 2
    method, path, status, ctype = argv[2], argv[3], int(argv[4]), argv[5]
    body = b""
    if len(argv) == 7:
        if argv[6] == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(argv[6], "rb") as f:
                body = f.read()
    problems = validate(doc, method, path, status, ctype, body)
    for p in problems:
        print("FAIL " + p)
    if not problems:
        print("ok   %s %s %d %s" % (method.upper(), path, status, ctype))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
