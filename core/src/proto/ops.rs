//! The operations a client sends, borrowed ([`ClientOp`]) and owned ([`OwnedOp`]).

use bytes::{BufMut, Bytes, BytesMut};

/// A publish (PUB or HPUB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubOp<'a> {
    /// Where the message goes.
    pub subject: &'a [u8],
    /// Where replies go, if anywhere.
    pub reply: Option<&'a [u8]>,
    /// Length of the header block at the front of the message (HPUB only).
    pub header_len: Option<usize>,
    /// Headers (if any), payload, then the CRLF that ended them on the wire: the exact bytes
    /// every delivery repeats, shared rather than copied.
    pub message: Bytes,
}

impl PubOp<'_> {
    /// The framing every reader of a publish relies on (`message.len() - 2`, slicing at
    /// `header_len`): the message ends with CRLF and its header block fits before it. The parser
    /// checks both before it builds a `PubOp`; this asserts it (debug builds).
    pub(crate) fn check_framing(&self) {
        debug_assert!(self.message.ends_with(b"\r\n"), "a publish ends with CRLF");
        debug_assert!(
            self.header_len.is_none_or(|h| h <= self.message.len() - 2),
            "a header block fits in its message"
        );
    }

    /// Headers plus payload, without the trailing CRLF.
    pub fn body(&self) -> &[u8] {
        &self.message[..self.message.len() - 2]
    }

    /// Size of headers plus payload, as announced on the wire.
    pub fn total_len(&self) -> usize {
        self.message.len() - 2
    }
}

/// A message from a route (RMSG, or HMSG with headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedOp<'a> {
    /// The account it was published in.
    pub account: &'a [u8],
    /// The queue groups the sending server chose this server to serve, names separated by
    /// blanks; `None` means deliver to plain subscriptions only.
    pub queues: Option<&'a [u8]>,
    /// Subject, reply, headers and payload.
    pub msg: PubOp<'a>,
}

impl RoutedOp<'_> {
    /// The queue names, one by one.
    pub fn queue_names(&self) -> impl Iterator<Item = &[u8]> {
        self.queues
            .unwrap_or_default()
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|q| !q.is_empty())
    }
}

/// One operation from a client (or, on a route, from another server), borrowing from the
/// parser's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT {json}`; the raw JSON.
    Connect(&'a [u8]),
    /// `PUB` or `HPUB`.
    Pub(PubOp<'a>),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// The subject, possibly with wildcards.
        subject: &'a [u8],
        /// The queue group, if any.
        queue: Option<&'a [u8]>,
        /// The client's subscription id.
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// The client's subscription id.
        sid: &'a [u8],
        /// Total deliveries after which the subscription ends; `Some(0)` means now.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (clients have no reason to send it; it is accepted and ignored).
    Ok,
    /// `-ERR <text>`.
    Err(&'a [u8]),
    /// `INFO {json}`.
    Info(&'a [u8]),
    /// `RS+ <account> <subject> [<queue> <weight>]` (routes only).
    RouteSub {
        /// The account.
        account: &'a [u8],
        /// The subject.
        subject: &'a [u8],
        /// The queue group and how many members the remote server has in it.
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS- <account> <subject> [<queue>]` (routes only).
    RouteUnsub {
        /// The account.
        account: &'a [u8],
        /// The subject.
        subject: &'a [u8],
        /// The queue group.
        queue: Option<&'a [u8]>,
    },
    /// `RMSG`/`HMSG` (routes only).
    Routed(RoutedOp<'a>),
}

impl ClientOp<'_> {
    /// An owned copy, for tests and models.
    pub fn to_owned(&self) -> OwnedOp {
        match self {
            ClientOp::Connect(json) => OwnedOp::Connect(json.to_vec()),
            ClientOp::Pub(p) => OwnedOp::Pub {
                subject: p.subject.to_vec(),
                reply: p.reply.map(<[u8]>::to_vec),
                header_len: p.header_len,
                body: p.body().to_vec(),
            },
            ClientOp::Sub { subject, queue, sid } => OwnedOp::Sub {
                subject: subject.to_vec(),
                queue: queue.map(<[u8]>::to_vec),
                sid: sid.to_vec(),
            },
            ClientOp::Unsub { sid, max } => OwnedOp::Unsub {
                sid: sid.to_vec(),
                max: *max,
            },
            ClientOp::Ping => OwnedOp::Ping,
            ClientOp::Pong => OwnedOp::Pong,
            ClientOp::Ok => OwnedOp::Ok,
            ClientOp::Err(text) => OwnedOp::Err(text.to_vec()),
            ClientOp::Info(json) => OwnedOp::Info(json.to_vec()),
            ClientOp::RouteSub {
                account,
                subject,
                queue,
            } => OwnedOp::RouteSub {
                account: account.to_vec(),
                subject: subject.to_vec(),
                queue: queue.map(|(q, w)| (q.to_vec(), w)),
            },
            ClientOp::RouteUnsub {
                account,
                subject,
                queue,
            } => OwnedOp::RouteUnsub {
                account: account.to_vec(),
                subject: subject.to_vec(),
                queue: queue.map(<[u8]>::to_vec),
            },
            ClientOp::Routed(routed) => OwnedOp::Routed {
                account: routed.account.to_vec(),
                queues: routed
                    .queues
                    .map(|_| routed.queue_names().map(<[u8]>::to_vec).collect()),
                subject: routed.msg.subject.to_vec(),
                reply: routed.msg.reply.map(<[u8]>::to_vec),
                header_len: routed.msg.header_len,
                body: routed.msg.body().to_vec(),
            },
        }
    }
}

/// An owned client operation: what tests, models and the simulator's client build and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedOp {
    /// `CONNECT {json}`.
    Connect(Vec<u8>),
    /// `PUB` or (with `header_len`) `HPUB`.
    Pub {
        /// Subject.
        subject: Vec<u8>,
        /// Reply subject.
        reply: Option<Vec<u8>>,
        /// Header block length, for HPUB.
        header_len: Option<usize>,
        /// Headers plus payload.
        body: Vec<u8>,
    },
    /// `SUB`.
    Sub {
        /// Subject.
        subject: Vec<u8>,
        /// Queue group.
        queue: Option<Vec<u8>>,
        /// Subscription id.
        sid: Vec<u8>,
    },
    /// `UNSUB`.
    Unsub {
        /// Subscription id.
        sid: Vec<u8>,
        /// Delivery limit.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR`.
    Err(Vec<u8>),
    /// `INFO`.
    Info(Vec<u8>),
    /// `RS+`.
    RouteSub {
        /// Account.
        account: Vec<u8>,
        /// Subject.
        subject: Vec<u8>,
        /// Queue group and weight.
        queue: Option<(Vec<u8>, u32)>,
    },
    /// `RS-`.
    RouteUnsub {
        /// Account.
        account: Vec<u8>,
        /// Subject.
        subject: Vec<u8>,
        /// Queue group.
        queue: Option<Vec<u8>>,
    },
    /// `RMSG`, or (with `header_len`) `HMSG`.
    Routed {
        /// Account.
        account: Vec<u8>,
        /// Queue groups to serve (`None`: plain subscriptions only).
        queues: Option<Vec<Vec<u8>>>,
        /// Subject.
        subject: Vec<u8>,
        /// Reply subject.
        reply: Option<Vec<u8>>,
        /// Header block length.
        header_len: Option<usize>,
        /// Headers plus payload.
        body: Vec<u8>,
    },
}

impl OwnedOp {
    /// A publish, for tests.
    pub fn publish(subject: &str, reply: Option<&str>, header_len: Option<usize>, body: &[u8]) -> Self {
        OwnedOp::Pub {
            subject: subject.as_bytes().to_vec(),
            reply: reply.map(|r| r.as_bytes().to_vec()),
            header_len,
            body: body.to_vec(),
        }
    }

    /// Appends the operation's wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            OwnedOp::Connect(json) => line(out, b"CONNECT ", &[json]),
            OwnedOp::Pub {
                subject,
                reply,
                header_len,
                body,
            } => {
                out.put_slice(if header_len.is_some() { b"HPUB " } else { b"PUB " });
                out.put_slice(subject);
                if let Some(reply) = reply {
                    out.put_u8(b' ');
                    out.put_slice(reply);
                }
                if let Some(h) = header_len {
                    out.put_u8(b' ');
                    super::encode::put_decimal(out, *h as u64);
                }
                out.put_u8(b' ');
                super::encode::put_decimal(out, body.len() as u64);
                out.put_slice(b"\r\n");
                out.put_slice(body);
                out.put_slice(b"\r\n");
            }
            OwnedOp::Sub { subject, queue, sid } => match queue {
                Some(q) => line(out, b"SUB ", &[subject, b" ", q, b" ", sid]),
                None => line(out, b"SUB ", &[subject, b" ", sid]),
            },
            OwnedOp::Unsub { sid, max } => {
                out.put_slice(b"UNSUB ");
                out.put_slice(sid);
                if let Some(max) = max {
                    out.put_u8(b' ');
                    super::encode::put_decimal(out, *max);
                }
                out.put_slice(b"\r\n");
            }
            OwnedOp::Ping => out.put_slice(b"PING\r\n"),
            OwnedOp::Pong => out.put_slice(b"PONG\r\n"),
            OwnedOp::Ok => out.put_slice(b"+OK\r\n"),
            OwnedOp::Err(text) => line(out, b"-ERR ", &[text]),
            OwnedOp::Info(json) => line(out, b"INFO ", &[json]),
            OwnedOp::RouteSub {
                account,
                subject,
                queue,
            } => match queue {
                Some((q, weight)) => line(
                    out,
                    b"RS+ ",
                    &[account, b" ", subject, b" ", q, b" ", weight.to_string().as_bytes()],
                ),
                None => line(out, b"RS+ ", &[account, b" ", subject]),
            },
            OwnedOp::RouteUnsub {
                account,
                subject,
                queue,
            } => match queue {
                Some(q) => line(out, b"RS- ", &[account, b" ", subject, b" ", q]),
                None => line(out, b"RS- ", &[account, b" ", subject]),
            },
            OwnedOp::Routed {
                account,
                queues,
                subject,
                reply,
                header_len,
                body,
            } => {
                let names: Vec<&[u8]> = queues.iter().flatten().map(Vec::as_slice).collect();
                super::encode::put_routed_line(
                    out,
                    account,
                    subject,
                    reply.as_deref(),
                    queues.as_ref().map(|_| names.as_slice()),
                    *header_len,
                    body.len(),
                );
                out.put_slice(body);
                out.put_slice(b"\r\n");
            }
        }
    }
}

fn line(out: &mut BytesMut, verb: &[u8], parts: &[&[u8]]) {
    out.put_slice(verb);
    for part in parts {
        out.put_slice(part);
    }
    out.put_slice(b"\r\n");
}
