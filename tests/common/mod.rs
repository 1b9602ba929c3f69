//! Starts the real `natrix` binary on a free loopback port for a test, and stops it after.

#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The runtimes every integration test runs against.
pub const RUNTIMES: &[&str] = &["tokio", "mio"];

/// A running `natrix` process; killed on drop.
pub struct Natrix {
    child: Child,
    /// The client port it listens on.
    pub port: u16,
    /// Log lines printed so far, collected in the background.
    logs: mpsc::Receiver<String>,
    /// Every log line, printed if the test fails.
    history: Arc<Mutex<Vec<String>>>,
}

impl Natrix {
    /// Starts `natrix --runtime <runtime> -a 127.0.0.1 -p -1 <extra>` and waits until it listens.
    pub fn start(runtime: &str, extra: &[&str]) -> Natrix {
        let mut args = vec!["--runtime", runtime, "-a", "127.0.0.1", "-p", "-1", "-D"];
        args.extend_from_slice(extra);
        Natrix::start_with_args(&args)
    }

    /// Starts `natrix <args>` (which must bind 127.0.0.1) and waits until it listens.
    pub fn start_with_args(args: &[&str]) -> Natrix {
        let mut child = Command::new(env!("CARGO_BIN_EXE_natrix"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start natrix");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, logs) = mpsc::channel();
        let history = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&history);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut all) = keep.lock() {
                    all.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let marker = "Listening for client connections on 127.0.0.1:";
        let port = loop {
            let line = logs
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("natrix did not report its port");
            if let Some(pos) = line.find(marker) {
                break line[pos + marker.len()..].trim().parse().expect("port number");
            }
        };
        let mut natrix = Natrix {
            child,
            port,
            logs,
            history,
        };
        natrix.wait_for_log("Server is ready");
        natrix
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits (up to 10 s) for a log line containing `text`; returns it.
    pub fn wait_for_log(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .logs
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no log line containing {text:?}"),
            }
        }
    }

    /// Whether any log line so far contains `text` (including those printed before it was ready).
    pub fn logged(&self, text: &str) -> bool {
        self.history
            .lock()
            .is_ok_and(|lines| lines.iter().any(|l| l.contains(text)))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `USR2` ...) to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits up to `wait` for the process to exit; returns its exit status code.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<i32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Natrix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            if let Ok(lines) = self.history.lock() {
                eprintln!("--- natrix log ---");
                for line in lines.iter() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// A raw TCP client for tests that check exact bytes.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> Raw {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and reads the INFO line, which it returns.
    pub fn connect(port: u16) -> (Raw, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        let info = raw.read_line(Duration::from_secs(5));
        (raw, info)
    }

    /// Connects, reads INFO and sends a quiet CONNECT.
    pub fn client(port: u16) -> Raw {
        let (mut raw, _) = Raw::connect(port);
        raw.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\n");
        raw
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn fill(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Reads one CRLF-terminated line (including the CRLF).
    pub fn read_line(&mut self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            if Instant::now() >= deadline || !self.fill(deadline.saturating_duration_since(Instant::now())) {
                return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            }
        }
    }

    /// Reads until exactly `expected.len()` bytes arrived (or time runs out) and returns them.
    pub fn read_exact_text(&mut self, len: usize, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while self.buf.len() < len && Instant::now() < deadline {
            if !self.fill(Duration::from_millis(100)) {
                break;
            }
        }
        let take = self.buf.len().min(len);
        String::from_utf8_lossy(&self.buf.drain(..take).collect::<Vec<_>>()).into_owned()
    }

    /// Everything that arrives within `wait`, and whether the server closed the connection.
    pub fn read_for(&mut self, wait: Duration) -> (String, bool) {
        let deadline = Instant::now() + wait;
        let mut open = true;
        while Instant::now() < deadline {
            if !self.fill(Duration::from_millis(50)) {
                open = false;
                break;
            }
        }
        (
            String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned(),
            !open,
        )
    }
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("natrix-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs the binary to completion with `args`; returns (exit code, stderr).
pub fn run_to_end(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(args)
        .output()
        .expect("run natrix");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Natrix {
    /// The monitoring port, from the start-up line (start it with `-m -1`).
    pub fn monitor_port(&self) -> u16 {
        self.logged_value("Starting http monitor on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .expect("natrix reported its monitoring port")
    }

    /// What follows `marker` on the first log line containing it.
    pub fn logged_value(&self, marker: &str) -> Option<String> {
        let lines = self.history.lock().map(|l| l.clone()).unwrap_or_default();
        lines
            .iter()
            .find_map(|l| l.find(marker).map(|p| l[p + marker.len()..].trim().to_string()))
    }
}

/// An HTTP response: status, headers (lower-cased names) and body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `GET path` on the monitoring port.
pub fn http_get(port: u16, path: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitor");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}
