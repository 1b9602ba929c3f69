//! The incremental client-protocol parser.
//!
//! Bytes arrive in whatever pieces the network delivers; [`Parser::next`] turns them into
//! [`ClientOp`]s and gives the same operations for any split of the same stream. Operation names
//! are matched a byte at a time, case-insensitively, so garbage is refused as soon as it arrives,
//! as nats-server's parser does. Control lines are found with `memchr` and payloads are skipped
//! over, not scanned.
//!
//! Zero copy on the fast path: when an operation lies wholly inside one received chunk, its
//! arguments borrow from the chunk and its payload is a `Bytes` slice of it, which every
//! subscriber then shares. Only an operation split across reads is copied, once, into the
//! parser's own buffers.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::error::ParseError;
use super::ops::{ClientOp, PubOp, RoutedOp};

/// The limits the parser enforces as it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest accepted control-line argument section, in bytes.
    pub max_control_line: usize,
    /// Largest accepted message (headers plus payload), in bytes.
    pub max_payload: usize,
    /// Whether HPUB is allowed (the client announced `headers: true`).
    pub headers: bool,
    /// The peer is a route: route operations (`RS+`, `RS-`, `RMSG`, `HMSG`) are read instead of
    /// client ones (`PUB`, `SUB` ...).
    pub route: bool,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
            headers: false,
            route: false,
        }
    }
}

/// Operation names a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pub,
    HPub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
    RouteSub,
    RouteUnsub,
    RouteMsg,
    RouteHMsg,
}

const VERBS: [(&[u8], Verb); 14] = [
    (b"PUB", Verb::Pub),
    (b"HPUB", Verb::HPub),
    (b"SUB", Verb::Sub),
    (b"UNSUB", Verb::Unsub),
    (b"PING", Verb::Ping),
    (b"PONG", Verb::Pong),
    (b"CONNECT", Verb::Connect),
    (b"INFO", Verb::Info),
    (b"+OK", Verb::Ok),
    (b"-ERR", Verb::Err),
    (b"RS+", Verb::RouteSub),
    (b"RS-", Verb::RouteUnsub),
    (b"RMSG", Verb::RouteMsg),
    (b"HMSG", Verb::RouteHMsg),
];

/// The verbs a client may send (bits of `VERBS`).
const CLIENT_VERBS: u16 = 0b00_0011_1111_1111;
/// The verbs a route may send: the route verbs, plus PING, PONG, CONNECT, INFO, +OK, -ERR.
const ROUTE_VERBS: u16 = 0b11_1111_1111_0000;

/// How a verb's name must be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterName {
    /// At least one space or tab, then arguments (PUB, SUB ...).
    Space,
    /// Optional spaces, then arguments (CONNECT, INFO).
    OptionalSpace,
    /// Anything up to the newline is ignored (PING, PONG, +OK).
    Ignore,
}

impl Verb {
    fn after_name(self) -> AfterName {
        match self {
            Verb::Ping | Verb::Pong | Verb::Ok => AfterName::Ignore,
            Verb::Connect | Verb::Info => AfterName::OptionalSpace,
            _ => AfterName::Space,
        }
    }
}

/// Where the parser is in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Expecting the first byte of an operation.
    Start,
    /// Part of an operation name matched: `len` bytes, which the verbs in the `candidates`
    /// bitmask (indexes into `VERBS`) all start with.
    Name { len: usize, candidates: u16 },
    /// The whole name matched; the next byte must be a space or tab.
    NeedSpace(Verb),
    /// Skipping blanks before the arguments.
    Blanks(Verb),
    /// Inside the arguments; the partial line (if split) is in `line`.
    Args(Verb),
    /// Ignoring bytes up to the newline (after PING, PONG, +OK).
    Ignore(Verb),
    /// Reading a message body of `need` bytes (payload plus CRLF) for the PUB in `pending`.
    Payload { need: usize },
}

/// Arguments of a publish whose payload has not all arrived, as ranges into `Parser::line`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingPub {
    subject: Range<usize>,
    reply: Option<Range<usize>>,
    header_len: Option<usize>,
    /// A routed message's account and queue names.
    routed: Option<(Range<usize>, Option<Range<usize>>)>,
}

/// An incremental, resumable client-protocol parser. See the module docs.
#[derive(Debug, Default)]
pub struct Parser {
    limits: ParserLimits,
    state: StateBox,
    /// A control line split across reads.
    line: Vec<u8>,
    /// Set when the last operation returned borrowed from `line`, so it is cleared next call.
    line_spent: bool,
    /// A publish waiting for its payload.
    pending: Option<PendingPub>,
    /// A payload split across reads.
    payload: BytesMut,
}

#[derive(Debug)]
struct StateBox(State);

impl Default for StateBox {
    fn default() -> Self {
        StateBox(State::Start)
    }
}

impl Parser {
    /// A parser enforcing `limits`.
    pub fn new(limits: ParserLimits) -> Self {
        Parser {
            limits,
            ..Parser::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Changes the limits; they apply from the next operation.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// Whether the parser is between operations (nothing partial buffered).
    pub fn is_idle(&self) -> bool {
        self.state.0 == State::Start
    }

    /// Parses the next operation from `data[*pos..]`, advancing `*pos` past what it consumed.
    ///
    /// Returns `Ok(None)` when `data` is used up without completing an operation; the partial
    /// operation is kept and completed by later calls. After an error the connection must be
    /// closed: the parser's state is unspecified.
    pub fn next<'a>(&'a mut self, data: &'a Bytes, pos: &mut usize) -> Result<Option<ClientOp<'a>>, ParseError> {
        if self.line_spent {
            self.line.clear();
            self.line_spent = false;
        }
        loop {
            if *pos >= data.len() {
                if let State::Args(_) = self.state.0 {
                    self.check_control_line(self.line.len())?;
                }
                return Ok(None);
            }
            match self.state.0.clone() {
                // Most operations a client sends are PUB: recognise its name in one compare.
                State::Start if !self.limits.route && is_pub(&data[*pos..]) => {
                    *pos += 4;
                    self.state.0 = State::Blanks(Verb::Pub);
                }
                State::Start | State::Name { .. } => self.read_name(data, pos)?,
                State::NeedSpace(verb) => {
                    match data[*pos] {
                        b' ' | b'\t' => self.state.0 = State::Blanks(verb),
                        _ => return Err(ParseError::UnknownOperation),
                    }
                    *pos += 1;
                }
                State::Blanks(verb) => match data[*pos] {
                    b' ' | b'\t' => *pos += 1,
                    _ => self.state.0 = State::Args(verb),
                },
                State::Ignore(verb) => match memchr::memchr(b'\n', &data[*pos..]) {
                    Some(offset) => {
                        *pos += offset + 1;
                        self.state.0 = State::Start;
                        return Ok(Some(match verb {
                            Verb::Ping => ClientOp::Ping,
                            Verb::Pong => ClientOp::Pong,
                            _ => ClientOp::Ok,
                        }));
                    }
                    None => *pos = data.len(),
                },
                State::Args(verb) => return self.read_args(verb, data, pos),
                State::Payload { need } => return self.read_payload(need, data, pos),
            }
        }
    }

    /// Matches operation-name bytes; refuses a byte that no verb allows.
    fn read_name(&mut self, data: &Bytes, pos: &mut usize) -> Result<(), ParseError> {
        // The verbs the bytes so far could still spell, one bit per entry of VERBS; each byte
        // narrows them with plain byte compares (this runs for every operation).
        let (mut len, mut candidates) = match self.state.0 {
            State::Name { len, candidates } => (len, candidates),
            _ => (0, if self.limits.route { ROUTE_VERBS } else { CLIENT_VERBS }),
        };
        while *pos < data.len() {
            let byte = data[*pos].to_ascii_uppercase();
            *pos += 1;
            for (i, (name, _)) in VERBS.iter().enumerate() {
                if candidates & (1 << i) != 0 && name.get(len) != Some(&byte) {
                    candidates &= !(1 << i);
                }
            }
            len += 1;
            if candidates == 0 {
                return Err(ParseError::UnknownOperation);
            }
            // No verb is a prefix of another, so a candidate of this length is the verb.
            if let Some((_, verb)) = VERBS
                .iter()
                .enumerate()
                .find(|(i, (name, _))| candidates & (1 << i) != 0 && name.len() == len)
                .map(|(_, v)| *v)
            {
                self.state.0 = match verb.after_name() {
                    AfterName::Space => State::NeedSpace(verb),
                    AfterName::OptionalSpace => State::Blanks(verb),
                    AfterName::Ignore => State::Ignore(verb),
                };
                return Ok(());
            }
        }
        self.state.0 = State::Name { len, candidates };
        Ok(())
    }

    fn check_control_line(&self, len: usize) -> Result<(), ParseError> {
        if len > self.limits.max_control_line {
            return Err(ParseError::MaxControlLine {
                len,
                max: self.limits.max_control_line,
            });
        }
        Ok(())
    }

    /// Reads a control line's arguments up to the newline and acts on them.
    fn read_args<'a>(
        &'a mut self,
        verb: Verb,
        data: &'a Bytes,
        pos: &mut usize,
    ) -> Result<Option<ClientOp<'a>>, ParseError> {
        let rest = &data[*pos..];
        let Some(offset) = memchr::memchr(b'\n', rest) else {
            self.line.extend_from_slice(rest);
            *pos = data.len();
            self.check_control_line(self.line.len())?;
            return Ok(None);
        };
        let start = *pos;
        *pos += offset + 1;
        // The line is borrowed from `data` unless an earlier read left a part of it in `line`.
        let from_data = self.line.is_empty();
        if !from_data {
            self.line.extend_from_slice(&rest[..offset]);
        }
        let line: &[u8] = if from_data { &rest[..offset] } else { &self.line };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.check_control_line(line.len())?;
        self.state.0 = State::Start;
        match verb {
            Verb::Pub | Verb::HPub | Verb::RouteMsg | Verb::RouteHMsg => {
                let args = if matches!(verb, Verb::RouteMsg | Verb::RouteHMsg) {
                    parse_routed_args(verb, line, self.limits)?
                } else {
                    parse_pub_args(verb, line, self.limits)?
                };
                let need = args.size + 2;
                let body_start = *pos;
                if data.len() - body_start >= need {
                    // The whole message is in this chunk: borrow everything.
                    check_crlf(&data[body_start + args.size..body_start + need])?;
                    *pos = body_start + need;
                    let line = self.completed_line(data, from_data.then_some(start..start + offset));
                    let publish = PubOp {
                        subject: &line[args.subject],
                        reply: args.reply.map(|r| &line[r]),
                        header_len: args.header_len,
                        message: data.slice(body_start..body_start + need),
                    };
                    publish.check_framing();
                    return Ok(Some(match args.routed {
                        Some((account, queues)) => ClientOp::Routed(RoutedOp {
                            account: &line[account],
                            queues: queues.map(|q| &line[q]),
                            msg: publish,
                        }),
                        None => ClientOp::Pub(publish),
                    }));
                }
                // Keep the arguments until the payload completes.
                if from_data {
                    let line = &data[start..start + offset];
                    self.line.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                } else {
                    let trimmed = line.len();
                    self.line.truncate(trimmed);
                }
                self.pending = Some(PendingPub {
                    subject: args.subject,
                    reply: args.reply,
                    header_len: args.header_len,
                    routed: args.routed,
                });
                self.payload = BytesMut::with_capacity(need);
                self.state.0 = State::Payload { need };
                self.read_payload(need, data, pos)
            }
            _ => {
                let line = self.completed_line(data, from_data.then_some(start..start + offset));
                finish_line(verb, line).map(Some)
            }
        }
    }

    /// The control line of the operation being returned, without its CR: in `data` at `in_data`
    /// when it arrived whole, else in `line` (which is then cleared on the next call).
    fn completed_line<'a>(&'a mut self, data: &'a Bytes, in_data: Option<Range<usize>>) -> &'a [u8] {
        let line: &'a [u8] = match in_data {
            Some(range) => &data[range],
            None => {
                self.line_spent = true;
                &self.line[..]
            }
        };
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// Collects a payload that did not arrive with its control line.
    fn read_payload<'a>(
        &'a mut self,
        need: usize,
        data: &'a Bytes,
        pos: &mut usize,
    ) -> Result<Option<ClientOp<'a>>, ParseError> {
        let have = self.payload.len();
        let take = (need - have).min(data.len() - *pos);
        self.payload.extend_from_slice(&data[*pos..*pos + take]);
        *pos += take;
        if self.payload.len() < need {
            // The CRLF may already be partly here: refuse a wrong byte as soon as it arrives.
            let size = need - 2;
            if self.payload.len() > size {
                check_crlf_prefix(&self.payload[size..])?;
            }
            return Ok(None);
        }
        check_crlf(&self.payload[need - 2..])?;
        let message = std::mem::take(&mut self.payload).freeze();
        self.state.0 = State::Start;
        self.line_spent = true;
        let Some(pending) = self.pending.take() else {
            return Err(ParseError::UnknownOperation);
        };
        let line = &self.line;
        let publish = PubOp {
            subject: &line[pending.subject],
            reply: pending.reply.map(|r| &line[r]),
            header_len: pending.header_len,
            message,
        };
        publish.check_framing();
        Ok(Some(match pending.routed {
            Some((account, queues)) => ClientOp::Routed(RoutedOp {
                account: &line[account],
                queues: queues.map(|q| &line[q]),
                msg: publish,
            }),
            None => ClientOp::Pub(publish),
        }))
    }
}

fn check_crlf(end: &[u8]) -> Result<(), ParseError> {
    if end == b"\r\n" {
        Ok(())
    } else {
        Err(ParseError::UnknownOperation)
    }
}

fn check_crlf_prefix(end: &[u8]) -> Result<(), ParseError> {
    if b"\r\n".starts_with(end) {
        Ok(())
    } else {
        Err(ParseError::UnknownOperation)
    }
}

/// Whether `rest` starts with `PUB` (any case) and a blank.
fn is_pub(rest: &[u8]) -> bool {
    match rest {
        [p, u, b, blank, ..] => {
            // OR-ing 0x20 lower-cases a letter and maps no other byte onto one.
            *p | 0x20 == b'p' && *u | 0x20 == b'u' && *b | 0x20 == b'b' && matches!(*blank, b' ' | b'\t')
        }
        _ => false,
    }
}

/// Splits arguments on spaces and tabs (PUB and HPUB), or also on CR and LF (SUB, UNSUB), as
/// nats-server's two splitters do.
fn split_args<const N: usize, const ALSO_CRLF: bool>(line: &[u8]) -> smallvec::SmallVec<[Range<usize>; N]> {
    tokens::<ALSO_CRLF>(line).collect()
}

/// The blank-separated tokens of `line` (blanks: space and tab, and with `ALSO_CRLF` also CR and
/// LF), as ranges; two tight scans per token, since this runs for every PUB.
fn tokens<const ALSO_CRLF: bool>(line: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let blank = |b: u8| b == b' ' || b == b'\t' || (ALSO_CRLF && (b == b'\r' || b == b'\n'));
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return None;
        }
        let start = i;
        while i < line.len() && !blank(line[i]) {
            i += 1;
        }
        Some(start..i)
    })
}

/// A size argument as nats-server reads it: 1 to 9 ASCII digits, else invalid.
pub(crate) fn parse_size(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

struct PubArgs {
    subject: Range<usize>,
    reply: Option<Range<usize>>,
    header_len: Option<usize>,
    size: usize,
    /// RMSG/HMSG: the account, and the queue names (the span from the first to the last).
    routed: Option<(Range<usize>, Option<Range<usize>>)>,
}

fn arg_error(op: &'static str, detail: &'static str, line: &[u8]) -> ParseError {
    ParseError::Arguments {
        op,
        detail,
        line: String::from_utf8_lossy(line).into_owned(),
    }
}

/// Splits PUB and HPUB arguments on spaces and tabs into a fixed array: the count, and the
/// first four (a count above four is an error for both). No allocation and no spill checks:
/// this runs for every message.
fn split_pub_args(line: &[u8]) -> (usize, [Range<usize>; 4]) {
    let mut args: [Range<usize>; 4] = [0..0, 0..0, 0..0, 0..0];
    let mut count = 0;
    for token in tokens::<false>(line) {
        if let Some(slot) = args.get_mut(count) {
            *slot = token;
        }
        count += 1;
    }
    (count, args)
}

fn parse_pub_args(verb: Verb, line: &[u8], limits: ParserLimits) -> Result<PubArgs, ParseError> {
    let (count, split) = split_pub_args(line);
    let args = &split[..count.min(split.len())];
    let args = if count > split.len() {
        let op = if verb == Verb::HPub {
            "processHeaderPub"
        } else {
            "processPub"
        };
        if verb == Verb::HPub && !limits.headers {
            return Err(ParseError::HeadersNotSupported);
        }
        return Err(arg_error(op, "Parse Error", line));
    } else if verb == Verb::HPub {
        if !limits.headers {
            return Err(ParseError::HeadersNotSupported);
        }
        const OP: &str = "processHeaderPub";
        let (subject, reply, hdr, total) = match args {
            [s, h, t] => (s.clone(), None, h.clone(), t.clone()),
            [s, r, h, t] => (s.clone(), Some(r.clone()), h.clone(), t.clone()),
            _ => return Err(arg_error(OP, "Parse Error", line)),
        };
        let header_len = parse_size(&line[hdr]).ok_or_else(|| arg_error(OP, "Bad or Missing Header Size", line))?;
        let size = parse_size(&line[total]).ok_or_else(|| arg_error(OP, "Bad or Missing Total Size", line))?;
        if header_len > size {
            return Err(arg_error(OP, "Header Size larger then TotalSize", line));
        }
        PubArgs {
            subject,
            reply,
            header_len: Some(header_len),
            size,
            routed: None,
        }
    } else {
        const OP: &str = "processPub";
        let (subject, reply, total) = match args {
            [s, t] => (s.clone(), None, t.clone()),
            [s, r, t] => (s.clone(), Some(r.clone()), t.clone()),
            _ => return Err(arg_error(OP, "Parse Error", line)),
        };
        let size = parse_size(&line[total]).ok_or_else(|| arg_error(OP, "Bad or Missing Size", line))?;
        PubArgs {
            subject,
            reply,
            header_len: None,
            size,
            routed: None,
        }
    };
    if args.size > limits.max_payload {
        return Err(ParseError::MaxPayload {
            size: args.size,
            max: limits.max_payload,
        });
    }
    Ok(args)
}

/// `RMSG <account> <subject> [reply | + reply queues... | | queues...] <size>`, and HMSG with a
/// header size before the total, as nats-server's `processRoutedMsgArgs` reads them.
fn parse_routed_args(verb: Verb, line: &[u8], limits: ParserLimits) -> Result<PubArgs, ParseError> {
    let headers = verb == Verb::RouteHMsg;
    let op = if headers {
        "processRoutedHeaderMsgArgs"
    } else {
        "processRoutedMsgArgs"
    };
    let args = split_args::<8, false>(line);
    let sizes = if headers { 2 } else { 1 };
    if args.len() < 2 + sizes {
        return Err(arg_error(op, "Parse Error", line));
    }
    let (front, back) = args.split_at(args.len() - sizes);
    let account = front[0].clone();
    let subject = front[1].clone();
    let (reply, queues) = match &front[2..] {
        [] => (None, None),
        [reply] => (Some(reply.clone()), None),
        [marker, rest @ ..] => {
            let span = |names: &[Range<usize>]| match (names.first(), names.last()) {
                (Some(first), Some(last)) => Some(first.start..last.end),
                _ => None,
            };
            match &line[marker.clone()] {
                b"+" => match rest {
                    [reply, names @ ..] => (Some(reply.clone()), span(names)),
                    [] => return Err(arg_error(op, "Parse Error", line)),
                },
                b"|" => (None, span(rest)),
                _ => return Err(arg_error(op, "Bad or Missing Queue Marker", line)),
            }
        }
    };
    let total = back[sizes - 1].clone();
    let size = parse_size(&line[total]).ok_or_else(|| arg_error(op, "Bad or Missing Size", line))?;
    let header_len = if headers {
        let h = parse_size(&line[back[0].clone()]).ok_or_else(|| arg_error(op, "Bad or Missing Header Size", line))?;
        if h > size {
            return Err(arg_error(op, "Header Size larger then TotalSize", line));
        }
        Some(h)
    } else {
        None
    };
    if size > limits.max_payload {
        return Err(ParseError::MaxPayload {
            size,
            max: limits.max_payload,
        });
    }
    Ok(PubArgs {
        subject,
        reply,
        header_len,
        size,
        routed: Some((account, queues)),
    })
}

/// Turns a complete control line of a payload-less operation into its op.
fn finish_line(verb: Verb, line: &[u8]) -> Result<ClientOp<'_>, ParseError> {
    match verb {
        Verb::Sub => {
            let args = split_args::<4, true>(line);
            match args.as_slice() {
                [subject, sid] => Ok(ClientOp::Sub {
                    subject: &line[subject.clone()],
                    queue: None,
                    sid: &line[sid.clone()],
                }),
                [subject, queue, sid] => Ok(ClientOp::Sub {
                    subject: &line[subject.clone()],
                    queue: Some(&line[queue.clone()]),
                    sid: &line[sid.clone()],
                }),
                _ => Err(arg_error("processSub", "Parse Error", line)),
            }
        }
        Verb::Unsub => {
            let args = split_args::<3, true>(line);
            match args.as_slice() {
                [sid] => Ok(ClientOp::Unsub {
                    sid: &line[sid.clone()],
                    max: None,
                }),
                // nats-server reads a bad count as "no limit", which unsubscribes at once.
                [sid, max] => Ok(ClientOp::Unsub {
                    sid: &line[sid.clone()],
                    max: Some(parse_size(&line[max.clone()]).map_or(0, |n| n as u64)),
                }),
                _ => Err(arg_error("processUnsub", "Parse Error", line)),
            }
        }
        Verb::RouteSub => {
            let args = split_args::<5, true>(line);
            match args.as_slice() {
                [account, subject] => Ok(ClientOp::RouteSub {
                    account: &line[account.clone()],
                    subject: &line[subject.clone()],
                    queue: None,
                }),
                [account, subject, queue, weight] => Ok(ClientOp::RouteSub {
                    account: &line[account.clone()],
                    subject: &line[subject.clone()],
                    // nats-server counts a missing or bad weight as one member.
                    queue: Some((
                        &line[queue.clone()],
                        parse_size(&line[weight.clone()]).unwrap_or(1).max(1) as u32,
                    )),
                }),
                _ => Err(arg_error("processRemoteSub", "Parse Error", line)),
            }
        }
        Verb::RouteUnsub => {
            let args = split_args::<4, true>(line);
            match args.as_slice() {
                [account, subject] => Ok(ClientOp::RouteUnsub {
                    account: &line[account.clone()],
                    subject: &line[subject.clone()],
                    queue: None,
                }),
                [account, subject, queue] => Ok(ClientOp::RouteUnsub {
                    account: &line[account.clone()],
                    subject: &line[subject.clone()],
                    queue: Some(&line[queue.clone()]),
                }),
                _ => Err(arg_error("processRemoteUnsub", "Parse Error", line)),
            }
        }
        Verb::Connect => Ok(ClientOp::Connect(line)),
        Verb::Info => Ok(ClientOp::Info(line)),
        Verb::Err => Ok(ClientOp::Err(line)),
        // Handled before any arguments are read.
        Verb::Pub | Verb::HPub | Verb::RouteMsg | Verb::RouteHMsg | Verb::Ping | Verb::Pong | Verb::Ok => {
            Err(ParseError::UnknownOperation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ops::OwnedOp;

    fn limits() -> ParserLimits {
        ParserLimits {
            headers: true,
            ..ParserLimits::default()
        }
    }

    /// Parses `input` delivered in the given chunk sizes; returns ops and the error, if any.
    fn parse_chunks(input: &[u8], chunk: usize) -> (Vec<OwnedOp>, Option<ParseError>) {
        let mut parser = Parser::new(limits());
        let mut ops = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let data = Bytes::copy_from_slice(piece);
            let mut pos = 0;
            loop {
                match parser.next(&data, &mut pos) {
                    Ok(Some(op)) => ops.push(op.to_owned()),
                    Ok(None) => break,
                    Err(e) => return (ops, Some(e)),
                }
            }
        }
        (ops, None)
    }

    fn parse_all(input: &[u8]) -> Vec<OwnedOp> {
        let (ops, err) = parse_chunks(input, input.len());
        assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
        ops
    }

    #[test]
    fn parses_every_operation() {
        let ops = parse_all(
            b"CONNECT {\"verbose\":false}\r\nPUB foo 5\r\nhello\r\nPUB foo bar 0\r\n\r\n\
              HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nSUB foo 1\r\nSUB foo q 2\r\nUNSUB 1\r\n\
              UNSUB 2 10\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'x'\r\nINFO {}\r\n",
        );
        assert_eq!(
            ops,
            vec![
                OwnedOp::Connect(b"{\"verbose\":false}".to_vec()),
                OwnedOp::publish("foo", None, None, b"hello"),
                OwnedOp::publish("foo", Some("bar"), None, b""),
                OwnedOp::publish("foo", Some("r"), Some(12), b"NATS/1.0\r\n\r\nhi"),
                OwnedOp::Sub {
                    subject: b"foo".to_vec(),
                    queue: None,
                    sid: b"1".to_vec()
                },
                OwnedOp::Sub {
                    subject: b"foo".to_vec(),
                    queue: Some(b"q".to_vec()),
                    sid: b"2".to_vec()
                },
                OwnedOp::Unsub {
                    sid: b"1".to_vec(),
                    max: None
                },
                OwnedOp::Unsub {
                    sid: b"2".to_vec(),
                    max: Some(10)
                },
                OwnedOp::Ping,
                OwnedOp::Pong,
                OwnedOp::Ok,
                OwnedOp::Err(b"'x'".to_vec()),
                OwnedOp::Info(b"{}".to_vec()),
            ]
        );
    }

    #[test]
    fn names_are_case_insensitive_and_blanks_flexible() {
        let ops = parse_all(b"ping\r\nPiNg\nPING extra\r\npub\tfoo \t 3\r\nabc\r\nsub  foo\t1\r\n");
        assert_eq!(ops.len(), 5);
        assert_eq!(ops[3], OwnedOp::publish("foo", None, None, b"abc"));
    }

    #[test]
    fn every_split_gives_the_same_ops() {
        let input: &[u8] = b"CONNECT {}\r\nPUB a.b 11\r\nhello world\r\nHPUB x 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n";
        let whole = parse_all(input);
        for chunk in 1..input.len() {
            let (ops, err) = parse_chunks(input, chunk);
            assert_eq!(err, None);
            assert_eq!(ops, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn garbage_is_refused_at_once() {
        for bad in [
            &b"FOO"[..],
            b"SUB\r\n",
            b"UNSUB\r\n",
            b"PUBX",
            b"P\r",
            b"PINX",
            b"x",
            b"MSG foo 1 2\r\n",
            b"\r\n",
        ] {
            let (_, err) = parse_chunks(bad, 1);
            assert_eq!(
                err,
                Some(ParseError::UnknownOperation),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn payload_must_end_in_crlf() {
        let (ops, err) = parse_chunks(b"PUB foo 3\r\nabcd\r\n", 100);
        assert!(ops.is_empty());
        assert_eq!(err, Some(ParseError::UnknownOperation));
        let (_, err) = parse_chunks(b"PUB foo 3\r\nabcX", 1);
        assert_eq!(err, Some(ParseError::UnknownOperation));
    }

    #[test]
    fn bad_arguments_close_without_err_text() {
        for bad in [
            &b"PUB foo\r\n"[..],
            b"PUB foo abc\r\n",
            b"PUB a b c 3\r\n",
            b"SUB foo\r\n",
            b"SUB a b c d\r\n",
            b"UNSUB 1 2 3\r\n",
            b"HPUB foo 14 12\r\n",
            b"PUB foo 1234567890\r\n",
        ] {
            let (_, err) = parse_chunks(bad, 100);
            let err = err.expect("an error");
            assert!(matches!(err, ParseError::Arguments { .. }), "{err:?}");
            assert_eq!(err.err_text(), None);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let (_, err) = parse_chunks(b"PUB foo 1048577\r\n", 100);
        assert_eq!(
            err,
            Some(ParseError::MaxPayload {
                size: 1_048_577,
                max: 1_048_576
            })
        );
        let long = [b"SUB ".as_slice(), &[b'a'; 5000]].concat();
        let (_, err) = parse_chunks(&long, 1000);
        assert!(matches!(err, Some(ParseError::MaxControlLine { .. })), "{err:?}");
        let (_, err) = parse_chunks(&long, 10_000);
        assert!(matches!(err, Some(ParseError::MaxControlLine { .. })), "{err:?}");
        let mut parser = Parser::new(ParserLimits::default());
        let data = Bytes::from_static(b"HPUB foo 12 14\r\n");
        assert_eq!(parser.next(&data, &mut 0).err(), Some(ParseError::HeadersNotSupported));
    }

    #[test]
    fn unsub_with_a_bad_count_means_now() {
        assert_eq!(
            parse_all(b"UNSUB 1 abc\r\n"),
            vec![OwnedOp::Unsub {
                sid: b"1".to_vec(),
                max: Some(0)
            }]
        );
    }
}
