//! `pubsub`: a small end-to-end load generator for any NATS server.
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
use std::time::{Duration, Instant};

struct Args {
    url: String,
    msgs: u64,
    size: usize,
    /// Subscribers (each receives every message).
    subs: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: "127.0.0.1:4222".to_string(),
        msgs: 1_000_000,
        size: 16,
        subs: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value().trim_start_matches("nats://").to_string(),
            "--msgs" => args.msgs = value().parse().unwrap_or(args.msgs),
            "--size" => args.size = value().parse().unwrap_or(args.size),
            "--subs" => args.subs = value().parse().unwrap_or(args.subs),
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

/// Counts MSG deliveries until `expected` arrived; answers server PINGs.
fn receive(mut stream: TcpStream, expected: u64) -> std::io::Result<Instant> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 21);
    let mut got = 0u64;
    let mut skip = 0usize;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    while got < expected {
        let n = stream.read(&mut buf)?;
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

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let subscribers: Vec<TcpStream> = (0..args.subs)
        .map(|_| connect(&args.url, "SUB bench 1\r\n"))
        .collect::<Result<_, _>>()?;
    let mut publisher = connect(&args.url, "")?;
    let receivers: Vec<_> = subscribers
        .into_iter()
        .map(|s| {
            let expected = args.msgs;
            std::thread::spawn(move || receive(s, expected))
        })
        .collect();
    let mut one = format!("PUB bench {}\r\n", args.size).into_bytes();
    one.extend(std::iter::repeat_n(b'x', args.size));
    one.extend_from_slice(b"\r\n");
    let batch_msgs = (64 * 1024 / one.len()).max(1) as u64;
    let batch: Vec<u8> = one.repeat(batch_msgs as usize);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < args.msgs {
        let n = batch_msgs.min(args.msgs - sent);
        publisher.write_all(&batch[..n as usize * one.len()])?;
        sent += n;
    }
    let published = start.elapsed();
    let mut last = start;
    if args.subs == 0 {
        publisher.write_all(b"PING\r\n")?;
        last = wait_for_pong(publisher)?;
    }
    for receiver in receivers {
        let done = receiver
            .join()
            .map_err(|_| std::io::Error::other("receiver panicked"))??;
        last = last.max(done);
    }
    let elapsed = last.duration_since(start).as_secs_f64();
    let rate = args.msgs as f64 / elapsed;
    // With subscribers: deliveries per second per subscriber; without: messages the server took.
    println!(
        "pubsub size={} msgs={} subs={}: {:.0} msgs/s, {:.1} MB/s, publisher wrote {:.0} msgs/s, {:.3} s",
        args.size,
        args.msgs,
        args.subs,
        rate,
        rate * args.size as f64 / 1e6,
        args.msgs as f64 / published.as_secs_f64(),
        elapsed
    );
    Ok(())
}
