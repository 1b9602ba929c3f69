#!/usr/bin/env python3
"""Capture transcripts of nats-server's JetStream DIRECT.GET API and the
JetStream monitoring endpoints, over raw TCP / plain HTTP.

Stdlib only. Starts a fresh nats-server with JetStream enabled and an HTTP
monitoring port, creates two streams (KV with allow_direct, NODIRECT without),
publishes a few messages (recording the PubAcks), runs a fixed list of
`$JS.API.DIRECT.GET.*` requests and finally fetches /jsz and /varz. Writes:

  jetstream_direct_<version>.json      - list of steps (request + all replies)
  jetstream_monitoring_<version>.json  - list of {path, status, body}

Every message arriving on a step's reply inbox is collected until 500 ms pass
with nothing new (or 2 s total), because batch DIRECT.GET requests answer
with several messages followed by an EOB marker.

Usage:
  python3 capture_jetstream_direct.py          # uses /tmp/nsvenv/bin/nats-server
  NATS_SERVER=/usr/sbin/nats-server python3 capture_jetstream_direct.py

The version in the output file names is taken from `nats-server --version`
(override with NATS_VERSION). Output dir defaults to this script's directory
(override with OUT_DIR).

Reply header blocks and bodies are stored verbatim as strings (bodies are not
JSON-decoded, so key order and spacing are exactly as sent). Monitoring
bodies are parsed with json.loads, which preserves key order. Timestamps and
server ids naturally differ between runs.
"""

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.environ.get("NATS_SERVER", "/tmp/nsvenv/bin/nats-server")
OUT_DIR = os.environ.get("OUT_DIR", HERE)
IDLE_TIMEOUT = 0.5   # stop collecting after this long with nothing new
TOTAL_TIMEOUT = 2.0  # ... or after this long in total


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_version():
    v = os.environ.get("NATS_VERSION")
    if v:
        return v
    out = subprocess.run([SERVER, "--version"], capture_output=True, text=True)
    m = re.search(r"v?(\d+\.\d+\.\d+\S*)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


class Conn:
    """Minimal NATS client protocol over a raw socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.info = None
        self.msgs = queue.Queue()
        self.closed = False
        line = self._readline_blocking()
        assert line.startswith(b"INFO "), line
        self.info = json.loads(line[5:])
        self.send(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
            b'"no_responders":true,"protocol":1}\r\n'
        )
        self.send(b"SUB _INBOX.d.> 1\r\nPING\r\n")
        while True:
            line = self._readline_blocking()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise RuntimeError(line)
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed connection")
        self.buf += chunk

    def _readline_blocking(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_loop(self):
        try:
            while True:
                line = self._readline_blocking()
                if line.startswith(b"MSG "):
                    parts = line.split()
                    # MSG <subject> <sid> [reply] <#bytes>
                    subj = parts[1].decode()
                    reply = parts[3].decode() if len(parts) == 5 else None
                    n = int(parts[-1])
                    payload = self._readn(n + 2)[:-2]
                    self.msgs.put(("MSG", subj, reply, None, payload))
                elif line.startswith(b"HMSG "):
                    parts = line.split()
                    # HMSG <subject> <sid> [reply] <#hdr bytes> <#total bytes>
                    subj = parts[1].decode()
                    reply = parts[3].decode() if len(parts) == 6 else None
                    hlen = int(parts[-2])
                    tlen = int(parts[-1])
                    data = self._readn(tlen + 2)[:-2]
                    self.msgs.put(("HMSG", subj, reply, data[:hlen], data[hlen:]))
                elif line == b"PING":
                    self.send(b"PONG\r\n")
                elif line.startswith(b"-ERR"):
                    self.msgs.put(("ERR", None, None, None, line))
                # INFO / PONG / +OK are ignored
        except (EOFError, OSError):
            self.closed = True

    def request_all(self, subject, reply, body, headers=None):
        """Publish with reply inbox and collect every reply on that inbox.

        Returns (replies, timed_out) where timed_out means nothing arrived.
        """
        payload = body.encode()
        if headers is None:
            self.send(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), len(payload), payload))
        else:
            hdr = "NATS/1.0\r\n" + "".join("%s: %s\r\n" % (k, v) for k, v in headers.items()) + "\r\n"
            hdr = hdr.encode()
            self.send(
                b"HPUB %s %s %d %d\r\n%s%s\r\n"
                % (subject.encode(), reply.encode(), len(hdr), len(hdr) + len(payload), hdr, payload)
            )
        start = time.monotonic()
        last = start
        replies = []
        while True:
            now = time.monotonic()
            remaining = min(TOTAL_TIMEOUT - (now - start),
                            (IDLE_TIMEOUT - (now - last)) if replies else TOTAL_TIMEOUT)
            if remaining <= 0:
                break
            try:
                kind, subj, rto, hdr, data = self.msgs.get(timeout=remaining)
            except queue.Empty:
                break
            if kind == "ERR":
                replies.append({"kind": "ERR", "subject": None, "reply_to": None,
                                "reply_headers": None, "reply_body": data.decode("utf-8", "replace")})
                last = time.monotonic()
                continue
            if subj != reply:
                continue  # stale reply from an earlier step: drop it
            replies.append({
                "kind": kind,
                "subject": subj,
                "reply_to": rto,
                "reply_headers": hdr.decode("utf-8", errors="replace") if hdr is not None else None,
                "reply_body": data.decode("utf-8", errors="replace"),
            })
            last = time.monotonic()
        return replies, not replies


# --------------------------------------------------------------------------
# The fixed list of steps: (name, subject, body, headers-or-None)
# --------------------------------------------------------------------------
def c(obj):
    return json.dumps(obj, separators=(",", ":"))


API = "$JS.API."
DG = API + "DIRECT.GET."

STEPS = [
    # --- setup
    ("create_kv", API + "STREAM.CREATE.KV",
     c({"name": "KV", "subjects": ["kv.>"], "allow_direct": True, "max_msgs_per_subject": 3}), None),
    ("create_nodirect", API + "STREAM.CREATE.NODIRECT", c({"name": "NODIRECT", "subjects": ["nd.>"]}), None),
    ("pub_kv_a_1", "kv.a", "1", None),                       # seq 1
    ("pub_kv_b_2", "kv.b", "2", None),                       # seq 2
    ("pub_kv_a_3_with_header", "kv.a", "3", {"Foo": "bar"}),  # seq 3
    ("pub_kv_c_x_4", "kv.c.x", "4", None),                   # seq 4
    ("pub_kv_c_y_5", "kv.c.y", "5", None),                   # seq 5
    ("pub_kv_a_empty", "kv.a", "", None),                    # seq 6
    ("pub_nd_x_z", "nd.x", "z", None),
    # --- DIRECT.GET with JSON body
    ("dg_seq_1", DG + "KV", c({"seq": 1}), None),
    ("dg_seq_99", DG + "KV", c({"seq": 99}), None),
    ("dg_last_by_subj_kv_a", DG + "KV", c({"last_by_subj": "kv.a"}), None),
    ("dg_last_by_subj_kv_zzz", DG + "KV", c({"last_by_subj": "kv.zzz"}), None),
    ("dg_next_by_subj_kv_a_seq_2", DG + "KV", c({"next_by_subj": "kv.a", "seq": 2}), None),
    ("dg_next_by_subj_kv_c_star", DG + "KV", c({"next_by_subj": "kv.c.*"}), None),
    ("dg_empty_object", DG + "KV", "{}", None),
    ("dg_empty_body", DG + "KV", "", None),
    ("dg_invalid_json", DG + "KV", "{", None),
    ("dg_seq_3_stored_headers", DG + "KV", c({"seq": 3}), None),
    ("dg_seq_6_empty_body_msg", DG + "KV", c({"seq": 6}), None),
    ("dg_batch_seq_1_batch_3", DG + "KV", c({"seq": 1, "batch": 3}), None),
    ("dg_batch_seq_1_batch_3_max_bytes_20", DG + "KV", c({"seq": 1, "batch": 3, "max_bytes": 20}), None),
    ("dg_batch_next_by_subj_kv_gt_batch_10", DG + "KV", c({"next_by_subj": "kv.>", "batch": 10}), None),
    ("dg_batch_only_batch_2", DG + "KV", c({"batch": 2}), None),
    ("dg_batch_seq_99_batch_2", DG + "KV", c({"seq": 99, "batch": 2}), None),
    ("dg_multi_last_kv_a_kv_b", DG + "KV", c({"multi_last": ["kv.a", "kv.b"]}), None),
    ("dg_multi_last_kv_gt", DG + "KV", c({"multi_last": ["kv.>"]}), None),
    ("dg_multi_last_kv_c_star_batch_1", DG + "KV", c({"multi_last": ["kv.c.*"], "batch": 1}), None),
    ("dg_multi_last_kv_a_up_to_seq_3", DG + "KV", c({"multi_last": ["kv.a"], "up_to_seq": 3}), None),
    ("dg_multi_last_kv_zzz_nomatch", DG + "KV", c({"multi_last": ["kv.zzz"]}), None),
    ("dg_seq_1_no_hdr", DG + "KV", c({"seq": 1, "no_hdr": True}), None),
    ("dg_seq_3_no_hdr", DG + "KV", c({"seq": 3, "no_hdr": True}), None),
    ("dg_start_time_2000_batch_2", DG + "KV", c({"start_time": "2000-01-01T00:00:00Z", "batch": 2}), None),
    ("dg_conflict_seq_and_last_by_subj", DG + "KV", c({"seq": 1, "last_by_subj": "kv.a"}), None),
    # --- DIRECT.GET subject-suffix (last-by-subject) forms
    ("dg_suffix_kv_a", DG + "KV.kv.a", "", None),
    ("dg_suffix_kv_c_star", DG + "KV.kv.c.*", "", None),
    ("dg_suffix_kv_gt", DG + "KV.kv.>", "", None),
    ("dg_suffix_kv_nope", DG + "KV.kv.nope", "", None),
    ("dg_suffix_kv_a_with_body", DG + "KV.kv.a", c({"seq": 1}), None),
    # --- other streams
    ("dg_nodirect_stream", DG + "NODIRECT", c({"seq": 1}), None),
    ("dg_missing_stream", DG + "MISSING", c({"seq": 1}), None),
    # --- stored headers incl. a Nats-* header merging with the direct-get headers
    ("pub_kv_hdr_multi_headers", "kv.hdr", "h",
     {"X-A": "1", "Nats-Msg-Id": "abc", "X-B": "two words"}),  # seq 7
    ("dg_last_by_subj_kv_hdr", DG + "KV", c({"last_by_subj": "kv.hdr"}), None),
    ("dg_suffix_kv_hdr", DG + "KV.kv.hdr", "", None),
    ("dg_batch_seq_6_batch_5_incl_headers", DG + "KV", c({"seq": 6, "batch": 5}), None),
    ("dg_multi_last_kv_hdr_kv_b", DG + "KV", c({"multi_last": ["kv.hdr", "kv.b"]}), None),
    ("dg_seq_7_no_hdr", DG + "KV", c({"seq": 7, "no_hdr": True}), None),
    # --- request with headers of its own (are they echoed?)
    ("dg_seq_1_request_has_headers", DG + "KV", c({"seq": 1}), {"X-Req": "yes"}),
    ("dg_seq_1_required_api_level_999", DG + "KV", c({"seq": 1}), {"Nats-Required-Api-Level": "999"}),
    # --- more batch / max_bytes / no_hdr variants
    ("dg_batch_seq_1_batch_1", DG + "KV", c({"seq": 1, "batch": 1}), None),
    ("dg_batch_seq_1_batch_3_max_bytes_6", DG + "KV", c({"seq": 1, "batch": 3, "max_bytes": 6}), None),
    ("dg_batch_seq_1_batch_3_max_bytes_1", DG + "KV", c({"seq": 1, "batch": 3, "max_bytes": 1}), None),
    ("dg_batch_seq_1_batch_2_no_hdr", DG + "KV", c({"seq": 1, "batch": 2, "no_hdr": True}), None),
    ("dg_batch_next_by_subj_kv_a_batch_10", DG + "KV", c({"next_by_subj": "kv.a", "batch": 10}), None),
    ("dg_batch_next_by_subj_kv_a_seq_4_batch_10", DG + "KV", c({"next_by_subj": "kv.a", "seq": 4, "batch": 10}), None),
    ("dg_last_by_subj_with_batch_conflict", DG + "KV", c({"last_by_subj": "kv.a", "batch": 2}), None),
    ("dg_last_by_subj_no_hdr", DG + "KV", c({"last_by_subj": "kv.a", "no_hdr": True}), None),
    ("dg_start_time_2100", DG + "KV", c({"start_time": "2100-01-01T00:00:00Z"}), None),
    ("dg_multi_last_kv_gt_max_bytes_6", DG + "KV", c({"multi_last": ["kv.>"], "max_bytes": 6}), None),
    ("dg_multi_last_kv_gt_no_hdr", DG + "KV", c({"multi_last": ["kv.>"], "no_hdr": True}), None),
    ("dg_multi_last_kv_gt_seq_4", DG + "KV", c({"multi_last": ["kv.>"], "seq": 4}), None),
    ("dg_multi_last_up_to_time_2000", DG + "KV",
     c({"multi_last": ["kv.>"], "up_to_time": "2000-01-01T00:00:00Z"}), None),
    ("dg_multi_last_up_to_time_2100", DG + "KV",
     c({"multi_last": ["kv.a"], "up_to_time": "2100-01-01T00:00:00Z"}), None),
    ("dg_suffix_kv_a_body_no_hdr", DG + "KV.kv.a", c({"no_hdr": True}), None),
    ("dg_suffix_kv_a_body_empty_object", DG + "KV.kv.a", "{}", None),
    ("dg_suffix_kv_a_body_invalid_json", DG + "KV.kv.a", "{", None),
    # --- deleted messages
    ("msg_delete_kv_seq_4", API + "STREAM.MSG.DELETE.KV", c({"seq": 4}), None),
    ("dg_seq_4_deleted", DG + "KV", c({"seq": 4}), None),
    ("dg_batch_seq_3_batch_3_skips_deleted", DG + "KV", c({"seq": 3, "batch": 3}), None),
    ("dg_batch_seq_4_batch_2_starts_at_deleted", DG + "KV", c({"seq": 4, "batch": 2}), None),
    ("stream_info_kv", API + "STREAM.INFO.KV", "", None),
]

# A third stream with more than 1024 distinct subjects, to trigger
# "413 Too Many Results" on multi_last (the server's limit is 1024).
MANY_N = 1025
MANY_SETUP = [
    ("create_many", API + "STREAM.CREATE.MANY",
     c({"name": "MANY", "subjects": ["many.>"], "allow_direct": True, "storage": "memory"}), None),
]
MANY_STEPS = [
    ("dg_many_multi_last_too_many", DG + "MANY", c({"multi_last": ["many.*"]}), None),
    ("dg_many_multi_last_too_many_batch_2", DG + "MANY", c({"multi_last": ["many.*"], "batch": 2}), None),
    ("dg_many_multi_last_up_to_seq_3", DG + "MANY", c({"multi_last": ["many.*"], "up_to_seq": 3}), None),
    ("dg_many_batch_seq_1_batch_2", DG + "MANY", c({"seq": 1, "batch": 2}), None),
]

MONITOR_PATHS = [
    "/jsz",
    "/jsz?streams=true",
    "/jsz?accounts=true&streams=true&config=true",
    "/jsz?accounts=true",
    "/varz",
]


def http_get(port, path):
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    text = data.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if path == "/varz" and isinstance(body, dict):
        # keep only these keys, in the server's own order
        body = {k: v for k, v in body.items() if k in ("server_id", "now", "jetstream")}
    return {"path": path, "status": status, "body": body}


def main():
    version = server_version()
    port = free_port()
    http_port = free_port()
    store = tempfile.mkdtemp(prefix="natrix-js-direct-capture-")
    cmd = [SERVER, "-js", "-sd", store, "-p", str(port), "-a", "127.0.0.1", "-m", str(http_port)]
    print("starting:", " ".join(cmd), file=sys.stderr)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    startup = []
    later = []
    ready = threading.Event()

    def read_stderr():
        for raw in proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if ready.is_set():
                later.append(line)
            else:
                startup.append(line)
                if "Server is ready" in line:
                    ready.set()
        ready.set()

    t = threading.Thread(target=read_stderr, daemon=True)
    t.start()
    try:
        if not ready.wait(15):
            raise RuntimeError("server did not become ready")
        if proc.poll() is not None:
            raise RuntimeError("server exited:\n" + "\n".join(startup))

        conn = Conn(port)
        results = []
        counter = [0]

        def run(steps):
            for name, subject, body, headers in steps:
                counter[0] += 1
                inbox = "_INBOX.d.%d" % counter[0]
                replies, timed_out = conn.request_all(subject, inbox, body, headers)
                results.append({
                    "step": name,
                    "subject": subject,
                    "reply_inbox": inbox,
                    "request_headers": headers,
                    "request_body": body,
                    "replies": replies,
                    "timeout": timed_out,
                })
                print("%-45s %s" % (name, "TIMEOUT" if timed_out else
                                     ",".join(r["kind"] for r in replies)), file=sys.stderr)

        run(STEPS)
        run(MANY_SETUP)
        # Bulk publish without reply (not recorded per message), then wait
        # until the stream holds them all.
        conn.send(b"".join(b"PUB many.%d 1\r\nx\r\n" % i for i in range(MANY_N)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            counter[0] += 1
            replies, _ = conn.request_all(API + "STREAM.INFO.MANY", "_INBOX.d.%d" % counter[0], "")
            try:
                if json.loads(replies[0]["reply_body"])["state"]["messages"] >= MANY_N:
                    break
            except (IndexError, KeyError, ValueError):
                pass
        results.append({
            "step": "bulk_publish_many",
            "subject": "many.0 .. many.%d" % (MANY_N - 1),
            "reply_inbox": None,
            "request_headers": None,
            "request_body": "x",
            "replies": [],
            "timeout": False,
            "note": "%d plain PUBs without reply, one per distinct subject" % MANY_N,
        })
        run(MANY_STEPS)

        monitoring = [http_get(http_port, p) for p in MONITOR_PATHS]
        for m in monitoring:
            print("%-45s HTTP %s" % (m["path"], m["status"]), file=sys.stderr)

        out_json = os.path.join(OUT_DIR, "jetstream_direct_%s.json" % version)
        with open(out_json, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
            f.write("\n")
        out_mon = os.path.join(OUT_DIR, "jetstream_monitoring_%s.json" % version)
        with open(out_mon, "w") as f:
            json.dump(monitoring, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print("wrote", out_json, file=sys.stderr)
        print("wrote", out_mon, file=sys.stderr)
        if later:
            print("--- server log after start-up ---", file=sys.stderr)
            for line in later:
                print(line, file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
