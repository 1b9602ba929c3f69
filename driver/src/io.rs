//! Numbers and small helpers both event loops use for their sockets.

use std::io::IoSlice;
use std::time::Duration;

use bytes::Bytes;

/// Most buffers given to one vectored write (Linux's `IOV_MAX` is 1024; half of it keeps one
/// call's bookkeeping small).
pub const MAX_IOVECS: usize = 512;

/// How long a route dial may take before it counts as failed (`i/o timeout`, as Go says).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long shutdown waits for closing connections to flush what they hold.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// The buffers of one vectored write: up to [`MAX_IOVECS`] chunks from the front of `chunks`.
pub fn io_slices<'a>(chunks: impl IntoIterator<Item = &'a Bytes>) -> Vec<IoSlice<'a>> {
    chunks.into_iter().take(MAX_IOVECS).map(|c| IoSlice::new(c)).collect()
}

/// After a write took `written` bytes from the front of `chunks`: trims a chunk the write
/// ended inside, and returns how many chunks went out whole (the caller drops those).
pub fn advance<'a>(chunks: impl IntoIterator<Item = &'a mut Bytes>, mut written: usize) -> usize {
    let mut whole = 0;
    for chunk in chunks {
        if written == 0 {
            break;
        }
        if written >= chunk.len() {
            written -= chunk.len();
            whole += 1;
        } else {
            let _ = chunk.split_to(written);
            written = 0;
        }
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_write_trims_the_chunk_it_ended_in() {
        let mut chunks = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"h"),
        ];
        assert_eq!(io_slices(&chunks).len(), 3);
        assert_eq!(advance(&mut chunks, 5), 1);
        assert_eq!(&chunks[1][..], b"fg");
        assert_eq!(advance(&mut chunks[1..], 3), 2);
        assert_eq!(advance(&mut chunks, 0), 0);
    }
}
