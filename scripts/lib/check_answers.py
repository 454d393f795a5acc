#!/usr/bin/env python3
"""Holds answers the server gave against the OpenAPI document it serves.

    check_answers.py DOC.json ANSWERS.jsonl

Each line of ANSWERS is one answer: {"method", "template", "path", "status", "content_type",
"body", "request"} (bodies as text; request: the JSON body sent, or null). An answer passes when its operation documents its status, its media
type is the one documented for that status (no body where none is documented), and its JSON
body validates against the documented schema (JSON Schema 2020-12 as OpenAPI 3.1 uses it, by
openapi-schema-validator, an implementation independent of the server). Object schemas are
closed for the check: a member the document does not name fails, so the document cannot
silently fall behind what the server sends. A JSON request body the server took (2xx) must
validate against the documented request schema, closed the same way. Prints one line per failure and exits 1 if any.
"""
import copy
import json
import sys

from openapi_schema_validator import OAS31Validator


def closed(schema):
    """The schema with every object that lists its properties closed to others."""
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def main():
    if len(sys.argv) != 3:
        print("usage: check_answers.py DOC.json ANSWERS.jsonl", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    root = copy.deepcopy(doc)
    root["components"] = closed(root.get("components", {}))
    failures = []
    count = 0
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            a = json.loads(line)
            count += 1
            where = f'{a["method"]} {a["path"]} -> {a["status"]}'
            op = doc["paths"].get(a["template"], {}).get(a["method"].lower())
            if op is None:
                failures.append(f"{where}: {a['method']} {a['template']} is not documented")
                continue
            if a.get("request") is not None and 200 <= a["status"] < 300:
                req_schema = (op.get("requestBody", {}).get("content", {})
                              .get("application/json", {}).get("schema"))
                if req_schema is None:
                    failures.append(f"{where}: took a JSON body where none is documented")
                else:
                    schema = dict(root)
                    schema.update(req_schema)
                    for e in list(OAS31Validator(schema).iter_errors(json.loads(a["request"])))[:5]:
                        path = "/".join(str(p) for p in e.absolute_path)
                        failures.append(f"{where}: the request it took, at /{path}: {e.message[:300]}")
            documented = op["responses"].get(str(a["status"]))
            if documented is None:
                failures.append(f"{where}: status {a['status']} is not documented "
                                f"(documented: {', '.join(sorted(op['responses']))})")
                continue
            content = documented.get("content")
            if not content:
                if a["body"]:
                    failures.append(f"{where}: a body where none is documented: {a['body'][:200]}")
                continue
            media = (a["content_type"] or "").split(";")[0].strip()
            if media not in content:
                failures.append(f"{where}: Content-Type {media!r}, documented {sorted(content)}")
                continue
            if not media.endswith("json"):
                continue
            try:
                body = json.loads(a["body"])
            except ValueError as e:
                failures.append(f"{where}: not JSON ({e}): {a['body'][:200]}")
                continue
            schema = dict(root)
            for k, v in content[media]["schema"].items():
                schema[k] = v
            errors = sorted(OAS31Validator(schema).iter_errors(body), key=lambda e: list(e.path))
            for e in errors[:5]:
                path = "/".join(str(p) for p in e.absolute_path)
                failures.append(f"{where}: at /{path}: {e.message[:300]}")
    for line in failures:
        print(line)
    print(f"{count} answers checked, {len(failures)} failures")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
