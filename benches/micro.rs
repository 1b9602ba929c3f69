//! Micro-benchmarks of the hot path: parsing, subscription matching, and delivery.
//!
//! ```text
//! cargo bench --bench micro
//! ```

use std::hint::black_box;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix_core::proto::{OwnedOp, Parser, ParserLimits};
use natrix_core::sublist::Sublist;
use natrix_core::{Config, ConnId, Input, Instant, Node, Output};

/// About 1 MiB of mixed client traffic: small and 1 KiB publishes, a header publish, SUB, UNSUB
/// and PING.
fn mixed_traffic() -> Bytes {
    let mut out = BytesMut::new();
    let small = OwnedOp::publish("orders.eu.new", None, None, &[b'x'; 16]);
    let large = OwnedOp::publish("orders.eu.new", Some("_INBOX.abc.1"), None, &[b'y'; 1024]);
    let header = OwnedOp::publish("orders.us", None, Some(22), b"NATS/1.0\r\nA: bcdefg\r\n\r\nbody");
    let sub = OwnedOp::Sub {
        subject: b"orders.>".to_vec(),
        queue: Some(b"q".to_vec()),
        sid: b"12".to_vec(),
    };
    let unsub = OwnedOp::Unsub {
        sid: b"12".to_vec(),
        max: Some(5),
    };
    while out.len() < 1 << 20 {
        for _ in 0..20 {
            small.encode(&mut out);
        }
        large.encode(&mut out);
        header.encode(&mut out);
        sub.encode(&mut out);
        unsub.encode(&mut out);
        OwnedOp::Ping.encode(&mut out);
    }
    out.freeze()
}

fn parser(c: &mut Criterion) {
    let traffic = mixed_traffic();
    let mut group = c.benchmark_group("parser");
    group.throughput(Throughput::Bytes(traffic.len() as u64));
    group.bench_function("mixed traffic in 64 KiB reads", |b| {
        b.iter(|| {
            let mut parser = Parser::new(ParserLimits {
                headers: true,
                ..ParserLimits::default()
            });
            let mut ops = 0usize;
            for start in (0..traffic.len()).step_by(64 * 1024) {
                let chunk = traffic.slice(start..(start + 64 * 1024).min(traffic.len()));
                let mut pos = 0;
                while let Ok(Some(op)) = parser.next(&chunk, &mut pos) {
                    black_box(&op);
                    ops += 1;
                }
            }
            ops
        })
    });
    group.finish();
}

fn sublist(c: &mut Criterion) {
    let mut group = c.benchmark_group("sublist");
    for size in [10_000u32, 100_000] {
        let mut list: Sublist<u32> = Sublist::new();
        for i in 0..size {
            // Mostly literal subscriptions, one in ten with a wildcard.
            let subject = match i % 10 {
                0 => format!("svc.{}.*", i / 10),
                1 => format!("svc.{}.>", i / 10),
                _ => format!("svc.{}.op{}", i / 10, i % 10),
            };
            list.insert(subject.as_bytes(), None, i).expect("valid");
        }
        let hit = b"svc.42.op5".to_vec();
        group.bench_with_input(BenchmarkId::new("cache hit", size), &hit, |b, subject| {
            b.iter(|| black_box(list.matches(subject)).plain.len())
        });
        // Distinct subjects beyond the cache's capacity: every lookup walks the trie.
        let misses: Vec<Vec<u8>> = (0..20_000)
            .map(|i| format!("svc.{}.op{}", i % (size / 10), 2 + i % 8).into_bytes())
            .collect();
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("cache miss", size), |b| {
            b.iter(|| {
                next = (next + 1) % misses.len();
                black_box(list.matches(&misses[next])).plain.len()
            })
        });
    }
    group.finish();
}

/// One 16-byte publish delivered to `fan` subscribers, through the whole core.
fn delivery(c: &mut Criterion) {
    let mut group = c.benchmark_group("delivery");
    for fan in [1usize, 10, 100] {
        let mut server = Node::new(Config::default());
        let now = Instant::from_nanos(1);
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let drain = |server: &mut Node| {
            let mut chunks = Vec::new();
            while let Some(output) = server.poll_output() {
                if let Output::Write(id) = output {
                    let n = server.take_outbound(id, &mut chunks);
                    chunks.clear();
                    server.handle(now, Input::Written { conn: id, bytes: n });
                }
            }
        };
        let connect = |server: &mut Node, extra: &str| -> ConnId {
            let id = server.accept(now, peer);
            let data = Bytes::from(format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}"));
            server.handle(now, Input::Received { conn: id, data });
            id
        };
        for _ in 0..fan {
            connect(&mut server, "SUB fan 1\r\n");
        }
        let publisher = connect(&mut server, "");
        drain(&mut server);
        let publish = Bytes::from_static(b"PUB fan 16\r\n0123456789abcdef\r\n");
        group.throughput(Throughput::Elements(fan as u64));
        group.bench_function(BenchmarkId::new("16 B publish, subscribers", fan), |b| {
            b.iter(|| {
                server.handle(
                    now,
                    Input::Received {
                        conn: publisher,
                        data: publish.clone(),
                    },
                );
                drain(&mut server);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parser, sublist, delivery);
criterion_main!(benches);
