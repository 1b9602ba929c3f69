//! Property tests for the client-protocol parser: any chunking of a valid stream parses to the
//! same operations, encoding then parsing round-trips, and arbitrary bytes never panic.

use bytes::{Bytes, BytesMut};
use natrix_core::proto::{OwnedOp, ParseError, Parser, ParserLimits};
use proptest::prelude::*;

fn limits() -> ParserLimits {
    ParserLimits {
        headers: true,
        ..ParserLimits::default()
    }
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    proptest::string::string_regex("[a-zA-Z0-9_$*>-]{1,8}")
        .expect("regex")
        .prop_map(String::into_bytes)
}

fn subject() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(token(), 1..5).prop_map(|tokens| tokens.join(&b'.'))
}

fn op() -> impl Strategy<Value = OwnedOp> {
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (subject(), proptest::option::of(subject()), body.clone()).prop_map(|(subject, reply, body)| OwnedOp::Pub {
            subject,
            reply,
            header_len: None,
            body,
        }),
        (subject(), proptest::option::of(subject()), body, 1usize..40).prop_map(|(subject, reply, payload, extra)| {
            let mut header = b"NATS/1.0\r\n".to_vec();
            header.extend(std::iter::repeat_n(b'h', extra));
            header.extend_from_slice(b": v\r\n\r\n");
            let header_len = header.len();
            header.extend(payload);
            OwnedOp::Pub {
                subject,
                reply,
                header_len: Some(header_len),
                body: header,
            }
        }),
        (subject(), proptest::option::of(token()), token()).prop_map(|(subject, queue, sid)| OwnedOp::Sub {
            subject,
            queue,
            sid
        }),
        (token(), proptest::option::of(1u64..1_000_000)).prop_map(|(sid, max)| OwnedOp::Unsub { sid, max }),
        Just(OwnedOp::Ping),
        Just(OwnedOp::Pong),
        Just(OwnedOp::Connect(br#"{"verbose":false,"headers":true}"#.to_vec())),
    ]
}

/// What one server sends another on a route.
fn route_op() -> impl Strategy<Value = OwnedOp> {
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    let queues = proptest::option::of(proptest::collection::vec(token(), 1..4));
    prop_oneof![
        (token(), subject(), proptest::option::of((token(), 1u32..1000))).prop_map(|(account, subject, queue)| {
            OwnedOp::RouteSub {
                account,
                subject,
                queue,
            }
        }),
        (token(), subject(), proptest::option::of(token())).prop_map(|(account, subject, queue)| {
            OwnedOp::RouteUnsub {
                account,
                subject,
                queue,
            }
        }),
        (
            token(),
            subject(),
            proptest::option::of(subject()),
            queues,
            body,
            proptest::option::of(0usize..40)
        )
            .prop_map(|(account, subject, reply, queues, body, header_len)| {
                let header_len = header_len.map(|h| h.min(body.len()));
                OwnedOp::Routed {
                    account,
                    queues,
                    subject,
                    reply,
                    header_len,
                    body,
                }
            }),
        Just(OwnedOp::Ping),
        Just(OwnedOp::Pong),
        Just(OwnedOp::Info(br#"{"server_id":"N1","cluster":"c"}"#.to_vec())),
    ]
}

/// Parses `input` fed in pieces cut at `cuts`; returns the ops or the first error.
fn parse_in_pieces(input: &[u8], cuts: &[usize]) -> Result<Vec<OwnedOp>, ParseError> {
    parse_with(limits(), input, cuts)
}

/// Like [`parse_in_pieces`], for a route's stream.
fn parse_route_in_pieces(input: &[u8], cuts: &[usize]) -> Result<Vec<OwnedOp>, ParseError> {
    parse_with(
        ParserLimits {
            route: true,
            ..limits()
        },
        input,
        cuts,
    )
}

fn parse_with(limits: ParserLimits, input: &[u8], cuts: &[usize]) -> Result<Vec<OwnedOp>, ParseError> {
    let mut parser = Parser::new(limits);
    let mut ops = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.push(0);
    bounds.push(input.len());
    bounds.sort_unstable();
    bounds.dedup();
    for window in bounds.windows(2) {
        let data = Bytes::copy_from_slice(&input[window[0]..window[1]]);
        let mut pos = 0;
        while let Some(op) = parser.next(&data, &mut pos)? {
            ops.push(op.to_owned());
        }
    }
    Ok(ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_round_trips(ops in proptest::collection::vec(op(), 1..20)) {
        let mut wire = BytesMut::new();
        for op in &ops {
            op.encode(&mut wire);
        }
        prop_assert_eq!(parse_in_pieces(&wire, &[]).expect("valid stream"), ops);
    }

    #[test]
    fn any_chunking_gives_the_same_ops(
        ops in proptest::collection::vec(op(), 1..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut wire = BytesMut::new();
        for op in &ops {
            op.encode(&mut wire);
        }
        prop_assert_eq!(parse_in_pieces(&wire, &cuts).expect("valid stream"), ops);
    }

    #[test]
    fn garbage_never_panics_and_errors_are_split_invariant(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = parse_in_pieces(&input, &[]);
        let pieces = parse_in_pieces(&input, &cuts);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            // An error may surface earlier or later, but never turn into success.
            (Err(_), Err(_)) => {}
            // A stream cut short can be incomplete rather than wrong only if both agree.
            _ => prop_assert!(false, "whole {:?} vs pieces {:?}", whole, pieces),
        }
    }

    #[test]
    fn route_streams_round_trip_in_any_chunking(
        ops in proptest::collection::vec(route_op(), 1..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut wire = BytesMut::new();
        for op in &ops {
            op.encode(&mut wire);
        }
        prop_assert_eq!(parse_route_in_pieces(&wire, &[]).expect("valid stream"), ops.clone());
        prop_assert_eq!(parse_route_in_pieces(&wire, &cuts).expect("valid stream"), ops);
    }

    #[test]
    fn route_garbage_never_panics_and_client_verbs_are_refused(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = parse_route_in_pieces(&input, &[]);
        let pieces = parse_route_in_pieces(&input, &cuts);
        if let (Ok(a), Ok(b)) = (&whole, &pieces) {
            prop_assert_eq!(a, b);
        }
        prop_assert!(parse_route_in_pieces(b"PUB foo 2\r\nhi\r\n", &[]).is_err());
        prop_assert!(parse_in_pieces(b"RMSG $G foo 2\r\nhi\r\n", &[]).is_err());
    }
}
