#!/usr/bin/env python3
"""Deploy or update a Flink job the way the seed article describes it.

The baseline of bench/: what a team writes instead of flink-deploy, done in
the article's order with plain REST calls through `requests`:

  1. stop the running job with a savepoint   (POST /jobs/{id}/stop)
  2. upload the jar                          (POST /jars/upload)
  3. run it from that savepoint               (POST /jars/{id}/run)

then wait until the new job and all its tasks run. Every wait polls every
250 ms, as flink-deploy does, so the comparison is about the order of the
steps and the cost of the process, not about a slower poll.

It prints one JSON line: the old and new job ids and the savepoint.
"""

import argparse
import json
import os
import sys
import time

import requests

POLL_SECONDS = 0.25


def fail(message):
    print(f"deploy_or_update_job: {message}", file=sys.stderr)
    sys.exit(1)


def check(response, what):
    if response.status_code >= 400:
        fail(f"{what}: HTTP {response.status_code}: {response.text}")
    return response.json()


def running_job(base, name):
    jobs = check(requests.get(f"{base}/jobs/overview", timeout=30), "list jobs")["jobs"]
    running = [j for j in jobs if j["name"] == name and j["state"] == "RUNNING"]
    if len(running) > 1:
        fail(f"{len(running)} running jobs are named {name}")
    return running[0]["jid"] if running else None


def stop_with_savepoint(base, job_id, target_dir, timeout):
    trigger = check(
        requests.post(
            f"{base}/jobs/{job_id}/stop",
            json={"targetDirectory": target_dir, "drain": False},
            timeout=30,
        ),
        f"stop job {job_id}",
    )
    request_id = trigger["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = check(
            requests.get(f"{base}/jobs/{job_id}/savepoints/{request_id}", timeout=30),
            "savepoint status",
        )
        if status["status"]["id"] == "COMPLETED":
            operation = status.get("operation") or {}
            if "failure-cause" in operation:
                fail(f"savepoint failed: {json.dumps(operation['failure-cause'])[:2000]}")
            return operation["location"]
        time.sleep(POLL_SECONDS)
    fail(f"the savepoint of {job_id} did not complete within {timeout}s")


def upload(base, jar):
    # The natural way with requests: it builds the multipart body in memory.
    with open(jar, "rb") as f:
        files = {"jarfile": (os.path.basename(jar), f, "application/x-java-archive")}
        answer = check(requests.post(f"{base}/jars/upload", files=files, timeout=600), "upload")
    return answer["filename"].rsplit("/", 1)[-1]


def run(base, jar_id, args, savepoint):
    body = {"programArgsList": args.program_args, "allowNonRestoredState": False}
    if args.parallelism:
        body["parallelism"] = args.parallelism
    if args.entry_class:
        body["entryClass"] = args.entry_class
    if savepoint:
        body["savepointPath"] = savepoint
    answer = check(
        requests.post(f"{base}/jars/{jar_id}/run", json=body, timeout=600), "run the jar"
    )
    return answer["jobid"]


def wait_all_tasks_running(base, job_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = check(requests.get(f"{base}/jobs/{job_id}", timeout=30), "job details")
        if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
            fail(f"the new job {job_id} is {job['state']}")
        vertices = job.get("vertices", [])
        if (
            job["state"] == "RUNNING"
            and vertices
            and all(v["tasks"].get("RUNNING", 0) == v["parallelism"] for v in vertices)
        ):
            return
        time.sleep(POLL_SECONDS)
    fail(f"the new job {job_id} was not running within {timeout}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobmanager-url", default=os.environ.get("FLINK_JOBMANAGER_URL"))
    parser.add_argument("--job-name", required=True)
    parser.add_argument("--jar", required=True)
    parser.add_argument("--savepoint-dir", required=True)
    parser.add_argument("--parallelism", type=int)
    parser.add_argument("--entry-class")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("program_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.program_args[:1] == ["--"]:
        args.program_args = args.program_args[1:]
    if not args.jobmanager_url:
        fail("--jobmanager-url or FLINK_JOBMANAGER_URL is required")
    base = args.jobmanager_url.rstrip("/")

    old = running_job(base, args.job_name)
    savepoint = stop_with_savepoint(base, old, args.savepoint_dir, args.timeout) if old else None
    jar_id = upload(base, args.jar)
    new = run(base, jar_id, args, savepoint)
    wait_all_tasks_running(base, new, args.timeout)
    print(json.dumps({"old_job_id": old, "savepoint": savepoint, "new_job_id": new, "jar_id": jar_id}))


if __name__ == "__main__":
    main()
