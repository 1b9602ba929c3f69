//! `pubsub`: a small end-to-end load generator for any NATS server.
//!
//! Modes: `pubsub` (default; `--pubs N --subs M [--queue]`), `reqrep` (sequential requests to
//! one responder, latency percentiles) and `idle` (`--conns N --hold S`: open N connections and
//! hold them, for measuring the server's memory). Every run prints the load tool's own CPU time.
//!
//! One publisher connection sends `--msgs` messages of `--size` bytes on one subject; `--subs`
//! subscriber connections (default 1) each receive all of them. With `--subs 0` it measures
//! publishing alone: the clock stops when the server answers a PING sent after the last message,
//! which it does only after processing every message before it. Both speak the protocol directly over TCP with large
//! batched writes and reads, so the load tool costs little next to the server. It prints
//! messages per second measured at the subscriber, from the first publish to the last delivery.
//!
//! ```text
//! cargo bench --bench pubsub -- --url 127.0.0.1:4222 --msgs 2000000 --size 16
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    url: String,
    msgs: u64,
    size: usize,
    /// Subscribers (each receives every message, or with `--queue` one of them does).
    subs: usize,
    /// Publishers, each sending `msgs` messages.
    pubs: usize,
    /// Subscribers form one queue group.
    queue: bool,
    /// `pubsub` (default), `reqrep` or `idle`.
    mode: String,
    /// Connections for `idle`.
    conns: usize,
    /// Seconds `idle` holds its connections open.
    hold: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: "127.0.0.1:4222".to_string(),
        msgs: 1_000_000,
        size: 16,
        subs: 1,
        pubs: 1,
        queue: false,
        mode: "pubsub".to_string(),
        conns: 10_000,
        hold: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value().trim_start_matches("nats://").to_string(),
            "--msgs" => args.msgs = value().parse().unwrap_or(args.msgs),
            "--size" => args.size = value().parse().unwrap_or(args.size),
            "--subs" => args.subs = value().parse().unwrap_or(args.subs),
            "--pubs" => args.pubs = value().parse().unwrap_or(args.pubs),
            "--queue" => args.queue = true,
            "--mode" => args.mode = value(),
            "--conns" => args.conns = value().parse().unwrap_or(args.conns),
            "--hold" => args.hold = value().parse().unwrap_or(args.hold),
            // `cargo bench` passes --bench; ignore anything else.
            _ => {}
        }
    }
    args
}

/// Connects, reads INFO, sends CONNECT and waits for the PONG that confirms it.
fn connect(url: &str, extra: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(url)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut writer = stream.try_clone()?;
    writer.write_all(format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}PING\r\n").as_bytes())?;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.starts_with("PONG") {
            break;
        }
        if line.is_empty() || line.starts_with("-ERR") {
            return Err(std::io::Error::other(format!("server said {line:?}")));
        }
    }
    Ok(stream)
}

/// Counts MSG deliveries until `expected` arrived (or, with a shared `total`, until all
/// receivers together got `expected`); answers server PINGs.
fn receive(mut stream: TcpStream, expected: u64, total: Option<Arc<AtomicU64>>) -> std::io::Result<Instant> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 21);
    let mut got = 0u64;
    let mut skip = 0usize;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut idle = Duration::ZERO;
    let done = |got: u64| match &total {
        Some(total) => total.load(Ordering::Relaxed) >= expected,
        None => got >= expected,
    };
    while !done(got) {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                idle += Duration::from_millis(200);
                if idle > Duration::from_secs(30) {
                    return Err(std::io::Error::other(format!("no messages for 30 s after {got}")));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        idle = Duration::ZERO;
        if n == 0 {
            return Err(std::io::Error::other(format!("server closed after {got} messages")));
        }
        pending.extend_from_slice(&buf[..n]);
        let mut pos = 0;
        loop {
            if skip > 0 {
                let take = skip.min(pending.len() - pos);
                pos += take;
                skip -= take;
                if skip > 0 {
                    break;
                }
            }
            let Some(end) = pending[pos..].windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let line = &pending[pos..pos + end];
            pos += end + 2;
            if line.starts_with(b"MSG ") {
                let size: usize = line
                    .rsplit(|&b| b == b' ')
                    .next()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                skip = size + 2;
                got += 1;
                if let Some(total) = &total {
                    total.fetch_add(1, Ordering::Relaxed);
                }
            } else if line.starts_with(b"PING") {
                stream.write_all(b"PONG\r\n")?;
            }
        }
        pending.drain(..pos);
    }
    Ok(Instant::now())
}

/// Reads until PONG (answering the server's own PINGs) and returns when it arrived.
fn wait_for_pong(stream: TcpStream) -> std::io::Result<Instant> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("server closed the connection"));
        }
        if line.starts_with("PONG") {
            return Ok(Instant::now());
        }
        if line.starts_with("PING") {
            writer.write_all(b"PONG\r\n")?;
        }
    }
}

/// This process's CPU time (user + system), from /proc.
fn own_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // After the command name: state, ppid, pgrp, session, tty, tpgid, flags, minflt,
            // cminflt, majflt, cmajflt, utime, stime.
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn pubsub(args: &Args) -> std::io::Result<()> {
    let sub_line = if args.queue {
        "SUB bench workers 1\r\n"
    } else {
        "SUB bench 1\r\n"
    };
    let subscribers: Vec<TcpStream> = (0..args.subs)
        .map(|_| connect(&args.url, sub_line))
        .collect::<Result<_, _>>()?;
    let publishers: Vec<TcpStream> = (0..args.pubs)
        .map(|_| connect(&args.url, ""))
        .collect::<Result<_, _>>()?;
    let total_messages = args.msgs * args.pubs as u64;
    let shared = args.queue.then(|| Arc::new(AtomicU64::new(0)));
    let receivers: Vec<_> = subscribers
        .into_iter()
        .map(|s| {
            let shared = shared.clone();
            std::thread::spawn(move || receive(s, total_messages, shared))
        })
        .collect();
    let mut one = format!("PUB bench {}\r\n", args.size).into_bytes();
    one.extend(std::iter::repeat_n(b'x', args.size));
    one.extend_from_slice(b"\r\n");
    let batch_msgs = (64 * 1024 / one.len()).max(1) as u64;
    let batch: Arc<Vec<u8>> = Arc::new(one.repeat(batch_msgs as usize));
    let start = Instant::now();
    let senders: Vec<_> = publishers
        .into_iter()
        .map(|mut publisher| {
            let (batch, one_len, msgs, wait) = (Arc::clone(&batch), one.len(), args.msgs, args.subs == 0);
            // The connection is returned, not dropped: closing it while the server still has
            // unread messages from it (or it has unread bytes from the server, which makes the
            // close a reset) may lose them.
            std::thread::spawn(move || -> std::io::Result<(Instant, TcpStream)> {
                let mut sent = 0u64;
                while sent < msgs {
                    let n = batch_msgs.min(msgs - sent);
                    publisher.write_all(&batch[..n as usize * one_len])?;
                    sent += n;
                }
                if wait {
                    publisher.write_all(b"PING\r\n")?;
                    let done = wait_for_pong(publisher.try_clone()?)?;
                    return Ok((done, publisher));
                }
                Ok((Instant::now(), publisher))
            })
        })
        .collect();
    let mut last = start;
    let mut published = start;
    let mut open = Vec::new();
    for sender in senders {
        let (done, publisher) = sender
            .join()
            .map_err(|_| std::io::Error::other("publisher panicked"))??;
        published = published.max(done);
        last = last.max(done);
        open.push(publisher);
    }
    for receiver in receivers {
        let done = receiver
            .join()
            .map_err(|_| std::io::Error::other("receiver panicked"))??;
        last = last.max(done);
    }
    let elapsed = last.duration_since(start).as_secs_f64();
    // Every plain subscriber receives every message, so this is the rate per subscriber; for a
    // queue group it is the group's, and with no subscribers what the server took.
    let rate = total_messages as f64 / elapsed;
    println!(
        "pubsub size={} msgs={} pubs={} subs={}{}: {:.0} msgs/s, {:.1} MB/s, publishers wrote {:.0} msgs/s, {:.3} s, load tool CPU {:.2} s",
        args.size,
        args.msgs,
        args.pubs,
        args.subs,
        if args.queue { " (queue group)" } else { "" },
        rate,
        rate * args.size as f64 / 1e6,
        total_messages as f64 / published.duration_since(start).as_secs_f64(),
        elapsed,
        own_cpu().as_secs_f64()
    );
    Ok(())
}

/// Sequential requests to a responder; prints latency percentiles.
fn reqrep(args: &Args) -> std::io::Result<()> {
    let responder = connect(&args.url, "SUB svc 1\r\n")?;
    let size = args.size;
    std::thread::spawn(move || -> std::io::Result<()> {
        let mut reader = BufReader::new(responder.try_clone()?);
        let mut writer = responder;
        let mut line = String::new();
        let reply_payload = vec![b'r'; size];
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["MSG", _, _, reply, len] => {
                    let len: usize = len.parse().unwrap_or(0);
                    let mut body = vec![0u8; len + 2];
                    reader.read_exact(&mut body)?;
                    let mut out = format!("PUB {reply} {size}\r\n").into_bytes();
                    out.extend_from_slice(&reply_payload);
                    out.extend_from_slice(b"\r\n");
                    writer.write_all(&out)?;
                }
                ["PING"] => writer.write_all(b"PONG\r\n")?,
                _ => {}
            }
        }
    });
    let requester = connect(&args.url, "SUB inbox.bench 1\r\n")?;
    let mut reader = BufReader::new(requester.try_clone()?);
    let mut writer = requester;
    let mut request = format!("PUB svc inbox.bench {size}\r\n").into_bytes();
    request.extend(std::iter::repeat_n(b'q', size));
    request.extend_from_slice(b"\r\n");
    let mut latencies = Vec::with_capacity(args.msgs as usize);
    let mut line = String::new();
    let start = Instant::now();
    for _ in 0..args.msgs {
        let sent = Instant::now();
        writer.write_all(&request)?;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("server closed"));
            }
            if line.starts_with("MSG") {
                let len: usize = line.split_whitespace().last().and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0u8; len + 2];
                reader.read_exact(&mut body)?;
                break;
            }
            if line.starts_with("PING") {
                writer.write_all(b"PONG\r\n")?;
            }
        }
        latencies.push(sent.elapsed());
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "reqrep size={size} requests={}: {:.0} req/s, p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
        args.msgs,
        args.msgs as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999)
    );
    Ok(())
}

/// Opens `conns` idle connections (each confirmed with PING/PONG) and holds them.
fn idle(args: &Args) -> std::io::Result<()> {
    let mut held = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        held.push(connect(&args.url, "")?);
    }
    println!("idle: {} connections open; holding {} s", held.len(), args.hold);
    std::thread::sleep(Duration::from_secs(args.hold));
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    match args.mode.as_str() {
        "reqrep" => reqrep(&args),
        "idle" => idle(&args),
        _ => pubsub(&args),
    }
}
