# scripts/lib/e2e-mix.py: the request mix of the end-to-end instruction count (scripts/bench-gate).
# Sends REQUESTS requests over one keep-alive connection, in a fixed order, cycling through
#   GET /healthz, GET /api/v1/departments/{id}, GET /api/v1/students/{id} (Bearer token),
# with ids taken in turn from DEPT_IDS and STUDENT_IDS (files, one id a line). Any answer other
# than 200 is an error: one line on stderr, exit 1.
#   python3 scripts/lib/e2e-mix.py PORT REQUESTS TOKEN DEPT_IDS STUDENT_IDS
import http.client
import sys


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: e2e-mix.py PORT REQUESTS TOKEN DEPT_IDS STUDENT_IDS")
    port, requests, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with open(sys.argv[4]) as f:
        depts = [line.strip() for line in f if line.strip()]
    with open(sys.argv[5]) as f:
        students = [line.strip() for line in f if line.strip()]
    if not depts or not students:
        sys.exit("error: no department or student ids")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    auth = {"Authorization": "Bearer " + token}
    for i in range(requests):
        kind, n = i % 3, i // 3
        if kind == 0:
            path, headers = "/healthz", {}
        elif kind == 1:
            path, headers = "/api/v1/departments/" + depts[n % len(depts)], {}
        else:
            path, headers = "/api/v1/students/" + students[n % len(students)], auth
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"error: GET {path} answered {resp.status}")
    conn.close()


main()
