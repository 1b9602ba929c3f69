#!/usr/bin/env python3
"""Capture transcripts of nats-server's JetStream *stream* API over raw TCP.

Stdlib only. Starts a fresh nats-server with JetStream enabled, runs a fixed,
deterministic list of request/reply steps against the `$JS.API.*` subjects
(and a few JetStream publishes), and writes:

  jetstream_streams_<version>.json   - list of steps (request + raw reply)
  jetstream_startup_<version>.log    - the server's start-up log (stderr), for reading;
                                       no test compares it, so it is not committed

Usage:
  python3 capture_jetstream.py                # uses /tmp/nsvenv/bin/nats-server
  NATS_SERVER=/usr/sbin/nats-server python3 capture_jetstream.py

The version in the output file names is taken from `nats-server --version`
(override with NATS_VERSION). Output dir defaults to this script's directory
(override with OUT_DIR).

Note: key order inside reply bodies is preserved exactly as the server sent
it (json.loads keeps insertion order; we never sort keys). Timestamps
(`created`, `ts`, `first_ts`, `last_ts`, ...) and server ids naturally differ
between runs.
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

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.environ.get("NATS_SERVER", "/tmp/nsvenv/bin/nats-server")
OUT_DIR = os.environ.get("OUT_DIR", HERE)
REPLY_TIMEOUT = 2.0


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
        self.send(b"SUB _INBOX.t.> 1\r\nPING\r\n")
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

    def request(self, subject, reply, body, headers=None):
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
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                kind, subj, _r, hdr, data = self.msgs.get(timeout=remaining)
            except queue.Empty:
                return None
            if kind == "ERR":
                return ("ERR", None, data)
            if subj == reply:
                return (kind, hdr, data)
            # stale reply from an earlier timed-out step: drop it


def decode_body(data):
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------
# The fixed list of steps: (name, subject, body, headers-or-None)
# --------------------------------------------------------------------------
def c(obj):
    return json.dumps(obj, separators=(",", ":"))


API = "$JS.API."

STEPS = [
    # --- account info before any stream
    ("account_info_empty", API + "INFO", "", None),
    # --- create
    ("create_orders_minimal", API + "STREAM.CREATE.ORDERS", c({"name": "ORDERS", "subjects": ["orders.*"]}), None),
    ("create_orders_identical_again", API + "STREAM.CREATE.ORDERS", c({"name": "ORDERS", "subjects": ["orders.*"]}), None),
    ("create_orders_different_config", API + "STREAM.CREATE.ORDERS",
     c({"name": "ORDERS", "subjects": ["orders.*"], "max_msgs": 10}), None),
    ("create_name_mismatch", API + "STREAM.CREATE.ORDERS2", c({"name": "OTHER", "subjects": ["other.*"]}), None),
    ("create_empty_body_object", API + "STREAM.CREATE.NONAME", "{}", None),
    ("create_completely_empty_body", API + "STREAM.CREATE.NOBODY", "", None),
    ("create_invalid_name_dot", API + "STREAM.CREATE.A.B", c({"name": "A.B", "subjects": ["ab.*"]}), None),
    ("create_invalid_name_star", API + "STREAM.CREATE.A*", c({"name": "A*", "subjects": ["astar.*"]}), None),
    ("create_invalid_name_gt", API + "STREAM.CREATE.A>", c({"name": "A>", "subjects": ["agt.*"]}), None),
    ("create_overlap", API + "STREAM.CREATE.OVERLAP", c({"name": "OVERLAP", "subjects": ["orders.new"]}), None),
    ("create_invalid_json", API + "STREAM.CREATE.BADJSON", "{", None),
    ("create_mem", API + "STREAM.CREATE.MEM",
     c({"name": "MEM", "subjects": ["mem.>"], "storage": "memory", "max_msgs": 5,
        "max_age": 1000000000, "duplicate_window": 500000000}), None),
    ("create_max_age_too_small", API + "STREAM.CREATE.TINYAGE",
     c({"name": "TINYAGE", "subjects": ["tiny.>"], "storage": "memory", "max_age": 1}), None),
    ("create_dup_window_gt_max_age", API + "STREAM.CREATE.DUPWIN",
     c({"name": "DUPWIN", "subjects": ["dupwin.>"], "storage": "memory",
        "max_age": 1000000000, "duplicate_window": 2000000000}), None),
    ("create_bad_storage", API + "STREAM.CREATE.BADSTORE",
     c({"name": "BADSTORE", "subjects": ["badstore.>"], "storage": "disk"}), None),
    ("create_full", API + "STREAM.CREATE.FULL",
     c({"name": "FULL", "description": "all the fields", "subjects": ["full.>"], "retention": "limits",
        "max_msgs_per_subject": 2, "discard": "new", "allow_direct": True, "deny_delete": True,
        "metadata": {"a": "b"}, "first_seq": 100}), None),
    ("create_fullper_discard_new_per_subject", API + "STREAM.CREATE.FULLPER",
     c({"name": "FULLPER", "subjects": ["fullper.>"], "storage": "memory", "max_msgs_per_subject": 1,
        "discard": "new", "discard_new_per_subject": True}), None),
    ("create_no_subjects", API + "STREAM.CREATE.NOSUBJ", c({"name": "NOSUBJ", "storage": "memory"}), None),
    ("stream_info_full", API + "STREAM.INFO.FULL", "", None),
    # --- publishes (PubAck)
    ("pub_orders_new_one", "orders.new", "one", None),
    ("pub_msgid_m1", "orders.new", "two", {"Nats-Msg-Id": "m1"}),
    ("pub_msgid_m1_duplicate", "orders.new", "two-again", {"Nats-Msg-Id": "m1"}),
    ("pub_expected_last_seq_wrong", "orders.new", "x", {"Nats-Expected-Last-Sequence": "1"}),
    ("pub_expected_stream_wrong", "orders.new", "x", {"Nats-Expected-Stream": "OTHER"}),
    ("pub_expected_last_subject_seq_0", "orders.new", "x", {"Nats-Expected-Last-Subject-Sequence": "0"}),
    ("pub_expected_last_msg_id_wrong", "orders.new", "x", {"Nats-Expected-Last-Msg-Id": "nope"}),
    ("pub_expected_stream_ok", "orders.other", "three", {"Nats-Expected-Stream": "ORDERS"}),
    ("pub_with_headers", "orders.new", "four", {"X-Foo": "bar", "X-Multi": "a"}),
    ("pub_orders_new_five", "orders.new", "five", None),
    ("pub_orders_old_six", "orders.old", "six", None),
    ("pub_no_stream_no_responders", "nostream.x", "nobody", None),
    ("pub_full_a_1", "full.a", "a1", None),
    ("pub_full_a_2", "full.a", "a2", None),
    ("pub_full_a_3_exceeds_per_subject", "full.a", "a3", None),
    ("pub_fullper_b_1", "fullper.b", "b1", None),
    ("pub_fullper_b_2_exceeds_per_subject", "fullper.b", "b2", None),
] + [
    ("pub_mem_%d" % i, "mem.x", "m%d" % i, None) for i in range(1, 8)
] + [
    ("stream_info_mem", API + "STREAM.INFO.MEM", "", None),
    ("stream_info_full_after_pubs", API + "STREAM.INFO.FULL", "", None),
    # --- info
    ("stream_info_orders", API + "STREAM.INFO.ORDERS", "", None),
    ("stream_info_not_found", API + "STREAM.INFO.NOPE", "", None),
    ("stream_info_subjects_filter", API + "STREAM.INFO.ORDERS", c({"subjects_filter": ">"}), None),
    ("stream_info_subjects_filter_specific", API + "STREAM.INFO.ORDERS", c({"subjects_filter": "orders.new"}), None),
    ("stream_info_invalid_json", API + "STREAM.INFO.ORDERS", "{", None),
    # --- names / list
    ("stream_names", API + "STREAM.NAMES", "", None),
    ("stream_names_subject_filter", API + "STREAM.NAMES", c({"subject": "orders.new"}), None),
    ("stream_names_subject_filter_nomatch", API + "STREAM.NAMES", c({"subject": "zzz"}), None),
    ("stream_list", API + "STREAM.LIST", "", None),
    # --- msg get
    ("msg_get_seq_1", API + "STREAM.MSG.GET.ORDERS", c({"seq": 1}), None),
    ("msg_get_seq_999", API + "STREAM.MSG.GET.ORDERS", c({"seq": 999}), None),
    ("msg_get_last_by_subj", API + "STREAM.MSG.GET.ORDERS", c({"last_by_subj": "orders.new"}), None),
    ("msg_get_next_by_subj", API + "STREAM.MSG.GET.ORDERS", c({"next_by_subj": "orders.new", "seq": 2}), None),
    ("msg_get_empty_object", API + "STREAM.MSG.GET.ORDERS", "{}", None),
    ("msg_get_empty_body", API + "STREAM.MSG.GET.ORDERS", "", None),
    ("msg_get_with_headers", API + "STREAM.MSG.GET.ORDERS", c({"seq": 4}), None),
    ("msg_get_not_found_stream", API + "STREAM.MSG.GET.NOPE", c({"seq": 1}), None),
    # --- msg delete
    ("msg_delete_seq_2", API + "STREAM.MSG.DELETE.ORDERS", c({"seq": 2}), None),
    ("msg_delete_seq_2_again", API + "STREAM.MSG.DELETE.ORDERS", c({"seq": 2}), None),
    ("msg_delete_seq_3_no_erase", API + "STREAM.MSG.DELETE.ORDERS", c({"seq": 3, "no_erase": True}), None),
    ("msg_delete_seq_999", API + "STREAM.MSG.DELETE.ORDERS", c({"seq": 999}), None),
    ("msg_delete_deny_delete", API + "STREAM.MSG.DELETE.FULL", c({"seq": 100}), None),
    ("msg_get_deleted_seq_2", API + "STREAM.MSG.GET.ORDERS", c({"seq": 2}), None),
    ("stream_info_deleted_details", API + "STREAM.INFO.ORDERS", c({"deleted_details": True}), None),
    # --- purge
    ("purge_filter_keep_1", API + "STREAM.PURGE.ORDERS", c({"filter": "orders.new", "keep": 1}), None),
    ("purge_seq_6", API + "STREAM.PURGE.ORDERS", c({"seq": 6}), None),
    ("purge_seq_and_keep_error", API + "STREAM.PURGE.ORDERS", c({"seq": 1, "keep": 1}), None),
    ("stream_info_after_partial_purge", API + "STREAM.INFO.ORDERS", "", None),
    ("purge_empty_body", API + "STREAM.PURGE.ORDERS", "", None),
    ("stream_info_after_purge", API + "STREAM.INFO.ORDERS", "", None),
    ("purge_not_found", API + "STREAM.PURGE.NOPE", "", None),
    # --- update
    ("update_add_subjects", API + "STREAM.UPDATE.ORDERS",
     c({"name": "ORDERS", "subjects": ["orders.*", "returns.*"]}), None),
    ("update_change_storage_error", API + "STREAM.UPDATE.ORDERS",
     c({"name": "ORDERS", "subjects": ["orders.*", "returns.*"], "storage": "memory"}), None),
    ("update_name_mismatch", API + "STREAM.UPDATE.ORDERS", c({"name": "OTHER", "subjects": ["orders.*"]}), None),
    ("update_nonexistent", API + "STREAM.UPDATE.NOPE", c({"name": "NOPE", "subjects": ["nope.*"]}), None),
    ("update_invalid_json", API + "STREAM.UPDATE.ORDERS", "{", None),
    # --- delete
    ("delete_orders", API + "STREAM.DELETE.ORDERS", "", None),
    ("delete_orders_again", API + "STREAM.DELETE.ORDERS", "", None),
    # --- unknown API
    ("unknown_api_subject", API + "STREAM.FOO", "", None),
    ("unknown_api_subject_toplevel", API + "FOO", "", None),
    # --- account info at the end
    ("account_info_end", API + "INFO", "", None),
]


def main():
    version = server_version()
    port = free_port()
    store = tempfile.mkdtemp(prefix="natrix-js-capture-")
    cmd = [SERVER, "-js", "-sd", store, "-p", str(port), "-a", "127.0.0.1"]
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
        for n, (name, subject, body, headers) in enumerate(STEPS, start=1):
            reply = "_INBOX.t.%d" % n
            r = conn.request(subject, reply, body, headers)
            rec = {
                "step": name,
                "subject": subject,
                "request_headers": headers,
                "request_body": body,
            }
            if r is None:
                rec.update({"reply_kind": None, "reply_headers": None, "reply_body": None, "timeout": True})
            else:
                kind, hdr, data = r
                rec.update({
                    "reply_kind": kind,
                    "reply_headers": hdr.decode("utf-8", errors="replace") if hdr is not None else None,
                    "reply_body": decode_body(data),
                    "timeout": False,
                })
            results.append(rec)
            print("%-40s %s" % (name, "TIMEOUT" if r is None else r[0]), file=sys.stderr)

        out_json = os.path.join(OUT_DIR, "jetstream_streams_%s.json" % version)
        with open(out_json, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
            f.write("\n")
        out_log = os.path.join(OUT_DIR, "jetstream_startup_%s.log" % version)
        with open(out_log, "w") as f:
            f.write("\n".join(startup) + "\n")
        print("wrote", out_json, file=sys.stderr)
        print("wrote", out_log, file=sys.stderr)
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
