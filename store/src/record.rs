//! One message as a segment stores it, and how a segment is read back with damage found.
//!
//! Layout, little-endian:
//!
//! | field | size | meaning |
//! |---|---|---|
//! | magic | 4 | `NRX1`: where a record starts, so reading can resume after damage |
//! | len | 4 | bytes from the magic to the end of the checksum |
//! | flags | 1 | bit 0: a tombstone (the sequence was deleted; no subject or body) |
//! | seq | 8 | the stream sequence |
//! | time | 8 | when it was stored, Unix nanoseconds |
//! | subject len | 2 | |
//! | headers len | 4 | |
//! | subject, headers, payload | … | the payload is what `len` leaves |
//! | crc | 4 | CRC-32C of everything before it, magic included |
//!
//! The checksum covers everything that identifies a message (sequence, time, subject, headers,
//! payload) and the framing, so a flipped bit anywhere is found. [`scan`] reads a segment from
//! its start: records that check out are returned; a stretch that does not is reported as
//! damaged and reading resumes at the next place where a whole record checks out, so one bad
//! record never hides the ones after it; bytes at the end that hold no whole record are a torn
//! tail (a write that did not complete), which the engine may cut off.

use std::ops::Range;

use bytes::{BufMut, Bytes};

/// Marks the start of a record.
pub const MAGIC: [u8; 4] = *b"NRX1";
/// Bytes before the subject.
pub const HEADER_LEN: usize = 4 + 4 + 1 + 8 + 8 + 2 + 4;
/// Bytes after the payload.
pub const TRAILER_LEN: usize = 4;
/// The largest record [`scan`] believes a length field about (a longer one is damage): 64 MiB,
/// more than any message JetStream accepts.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

const TOMBSTONE: u8 = 1;

/// A stored message (or tombstone), its parts shared with the segment it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The stream sequence.
    pub seq: u64,
    /// When it was stored, Unix nanoseconds.
    pub time: i64,
    /// The subject (empty for a tombstone).
    pub subject: Bytes,
    /// The NATS headers block, if any (empty when none).
    pub headers: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// The record says `seq` was deleted.
    pub tombstone: bool,
}

/// Why a record cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Subjects are at most 65,535 bytes.
    #[error("subject longer than 65535 bytes")]
    SubjectTooLong,
    /// The whole record would exceed [`MAX_RECORD`].
    #[error("record larger than {MAX_RECORD} bytes")]
    TooLarge,
}

impl Record {
    /// The bytes it takes in a segment.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.subject.len() + self.headers.len() + self.payload.len() + TRAILER_LEN
    }

    /// Appends the record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let subject_len = u16::try_from(self.subject.len()).map_err(|_| EncodeError::SubjectTooLong)?;
        let len = self.encoded_len();
        if len > MAX_RECORD {
            return Err(EncodeError::TooLarge);
        }
        let start = out.len();
        out.reserve(len);
        out.put_slice(&MAGIC);
        out.put_u32_le(len as u32);
        out.put_u8(if self.tombstone { TOMBSTONE } else { 0 });
        out.put_u64_le(self.seq);
        out.put_i64_le(self.time);
        out.put_u16_le(subject_len);
        out.put_u32_le(self.headers.len() as u32);
        out.put_slice(&self.subject);
        out.put_slice(&self.headers);
        out.put_slice(&self.payload);
        let crc = crc32c::crc32c(&out[start..]);
        out.put_u32_le(crc);
        Ok(())
    }
}

/// What is at an offset of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A record that checks out, and its length.
    Record(Record, usize),
    /// The bytes end before the record they start does (or before a record header).
    Incomplete,
    /// Not a record that checks out.
    Damaged,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the record at `at` in `segment`.
pub fn decode(segment: &Bytes, at: usize) -> Decoded {
    let rest = &segment[at.min(segment.len())..];
    if rest.len() < HEADER_LEN {
        return if MAGIC.starts_with(&rest[..rest.len().min(4)]) {
            Decoded::Incomplete
        } else {
            Decoded::Damaged
        };
    }
    if rest[..4] != MAGIC {
        return Decoded::Damaged;
    }
    let len = u32_at(rest, 4) as usize;
    let subject_len = usize::from(u16::from_le_bytes([rest[25], rest[26]]));
    let headers_len = u32_at(rest, 27) as usize;
    if !(HEADER_LEN + TRAILER_LEN..=MAX_RECORD).contains(&len)
        || HEADER_LEN + subject_len + headers_len + TRAILER_LEN > len
    {
        return Decoded::Damaged;
    }
    if rest.len() < len {
        return Decoded::Incomplete;
    }
    let stored = u32_at(rest, len - TRAILER_LEN);
    if crc32c::crc32c(&rest[..len - TRAILER_LEN]) != stored {
        return Decoded::Damaged;
    }
    let flags = rest[8];
    if flags & !TOMBSTONE != 0 {
        return Decoded::Damaged;
    }
    let seq = u64::from_le_bytes(rest[9..17].try_into().unwrap_or_default());
    let time = i64::from_le_bytes(rest[17..25].try_into().unwrap_or_default());
    let subject_at = at + HEADER_LEN;
    let headers_at = subject_at + subject_len;
    let payload_at = headers_at + headers_len;
    let end = at + len - TRAILER_LEN;
    Decoded::Record(
        Record {
            seq,
            time,
            subject: segment.slice(subject_at..headers_at),
            headers: segment.slice(headers_at..payload_at),
            payload: segment.slice(payload_at..end),
            tombstone: flags & TOMBSTONE != 0,
        },
        len,
    )
}

/// What reading a whole segment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every record that checks out, with its offset, in order.
    pub records: Vec<(usize, Record)>,
    /// Stretches that hold no record that checks out, with records after them.
    pub damaged: Vec<Range<usize>>,
    /// Where a torn tail starts: the bytes from here to the end hold no whole record.
    pub torn_tail: Option<usize>,
}

/// Reads `segment` from its start (see the module docs).
pub fn scan(segment: &Bytes) -> Scan {
    let mut found = Scan::default();
    let mut at = 0;
    while at < segment.len() {
        match decode(segment, at) {
            Decoded::Record(record, len) => {
                found.records.push((at, record));
                at += len;
            }
            Decoded::Incomplete | Decoded::Damaged => match resync(segment, at + 1) {
                Some(next) => {
                    found.damaged.push(at..next);
                    at = next;
                }
                None => {
                    found.torn_tail = Some(at);
                    break;
                }
            },
        }
    }
    found
}

/// The first offset from `from` where a whole record checks out.
fn resync(segment: &Bytes, from: usize) -> Option<usize> {
    let mut at = from;
    while at < segment.len() {
        let next = memchr_magic(&segment[at..])? + at;
        if let Decoded::Record(..) = decode(segment, next) {
            return Some(next);
        }
        at = next + 1;
    }
    None
}

/// Where the first byte of [`MAGIC`] followed by the rest of it occurs in `bytes`.
fn memchr_magic(bytes: &[u8]) -> Option<usize> {
    bytes.windows(MAGIC.len()).position(|w| w == MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, payload: &'static [u8]) -> Record {
        Record {
            seq,
            time: 1_700_000_000_000_000_000 + seq as i64,
            subject: Bytes::from_static(b"orders.new"),
            headers: Bytes::from_static(b"NATS/1.0\r\nA: b\r\n\r\n"),
            payload: Bytes::from_static(payload),
            tombstone: false,
        }
    }

    fn segment(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            r.encode(&mut out).expect("encodes");
        }
        out
    }

    #[test]
    fn records_read_back_as_written() {
        let records: Vec<Record> = (1..=5).map(|s| record(s, b"payload")).collect();
        let found = scan(&Bytes::from(segment(&records)));
        assert_eq!(
            found.records.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            records
        );
        assert!(found.damaged.is_empty());
        assert_eq!(found.torn_tail, None);
    }

    #[test]
    fn a_flipped_bit_hides_one_record_and_no_other() {
        let records: Vec<Record> = (1..=5).map(|s| record(s, b"payload")).collect();
        let mut bytes = segment(&records);
        let second = records[0].encoded_len();
        for bit in 0..(records[1].encoded_len() * 8) {
            let mut damaged = bytes.clone();
            damaged[second + bit / 8] ^= 1 << (bit % 8);
            let found = scan(&Bytes::from(damaged));
            let seqs: Vec<u64> = found.records.iter().map(|(_, r)| r.seq).collect();
            assert_eq!(seqs, vec![1, 3, 4, 5], "bit {bit}");
            assert_eq!(found.damaged.len(), 1, "bit {bit}");
        }
        // A torn tail: the last record cut anywhere.
        let last = bytes.len() - records[4].encoded_len();
        bytes.truncate(last + 7);
        let found = scan(&Bytes::from(bytes));
        assert_eq!(found.records.len(), 4);
        assert_eq!(found.torn_tail, Some(last));
        assert!(found.damaged.is_empty());
    }
}
