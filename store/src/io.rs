//! The IO requests the storage engine makes, and their completions.

use bytes::Bytes;

/// Identifies a request, so its completion can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IoId(pub u64);

/// A path inside the store's directory: relative, `/`-separated, with no empty, `.` or `..`
/// parts (so it cannot name anything outside the store).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath(String);

/// A path that is not a [`StorePath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store path {0:?}: must be relative, with no empty, '.' or '..' parts")]
pub struct InvalidPath(pub String);

impl StorePath {
    /// `path`, if it is a valid store path.
    pub fn new(path: &str) -> Result<StorePath, InvalidPath> {
        let valid = !path.is_empty()
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'));
        if valid {
            Ok(StorePath(path.to_string()))
        } else {
            Err(InvalidPath(path.to_string()))
        }
    }

    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> Result<StorePath, InvalidPath> {
        StorePath::new(&format!("{}/{name}", self.0))
    }

    /// The directory holding it, if it is not at the top of the store.
    pub fn parent(&self) -> Option<StorePath> {
        self.0.rsplit_once('/').map(|(dir, _)| StorePath(dir.to_string()))
    }

    /// The last part.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One IO operation. Requests complete in the order they were submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoRequest {
    /// Create a directory and any missing parents; done if it exists.
    CreateDir {
        /// The directory.
        dir: StorePath,
    },
    /// Write `data` at `offset`, creating the file if it is missing and extending it (with
    /// zeros over any gap) as needed. Not durable until a later [`IoRequest::Sync`] of the file.
    Write {
        /// The file.
        path: StorePath,
        /// Where in it.
        offset: u64,
        /// What.
        data: Bytes,
    },
    /// Make the file's data and size durable (`fdatasync`).
    Sync {
        /// The file.
        path: StorePath,
    },
    /// Make the directory's entries durable: files created, renamed or removed in it (`fsync`
    /// of the directory).
    SyncDir {
        /// The directory; `None` for the store's own.
        dir: Option<StorePath>,
    },
    /// Read up to `len` bytes at `offset` (fewer at the end of the file; none past it).
    Read {
        /// The file.
        path: StorePath,
        /// Where in it.
        offset: u64,
        /// How much at most.
        len: usize,
    },
    /// Cut the file to `len` bytes (or extend it with zeros).
    Truncate {
        /// The file.
        path: StorePath,
        /// Its new length.
        len: u64,
    },
    /// The file's length.
    Size {
        /// The file.
        path: StorePath,
    },
    /// Rename `from` to `to`, atomically replacing `to` if it exists.
    Rename {
        /// The file now.
        from: StorePath,
        /// Its new path.
        to: StorePath,
    },
    /// Remove a file.
    Remove {
        /// The file.
        path: StorePath,
    },
    /// Remove a directory and everything in it.
    RemoveDir {
        /// The directory.
        dir: StorePath,
    },
    /// The names in a directory, sorted (directories and files alike).
    List {
        /// The directory; `None` for the store's own.
        dir: Option<StorePath>,
    },
}

/// What a request that succeeded gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoOutcome {
    /// Done (everything but reads, sizes and lists).
    Done,
    /// The bytes read.
    Data(Bytes),
    /// A file's length.
    Size(u64),
    /// A directory's entries, sorted.
    Names(Vec<String>),
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoErrorKind {
    /// The file or directory does not exist.
    NotFound,
    /// The disk (or the quota) is full.
    NoSpace,
    /// The process may not do it.
    PermissionDenied,
    /// The data could not be read or written (EIO).
    Io,
    /// Anything else.
    Other,
}

/// A failed request: the kind, and what the operating system (or the simulated disk) said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IoError {
    /// What kind of failure.
    pub kind: IoErrorKind,
    /// The system's text.
    pub message: String,
}

impl IoError {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: IoErrorKind, message: impl Into<String>) -> Self {
        IoError {
            kind,
            message: message.into(),
        }
    }
}

/// A request's result, tagged with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoCompletion {
    /// The request's id.
    pub id: IoId,
    /// What it gave, or why it failed.
    pub result: Result<IoOutcome, IoError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_stay_inside_the_store() {
        for bad in ["", "/abs", "a//b", "a/./b", "../up", "a/..", "a/", "nul\0"] {
            assert!(StorePath::new(bad).is_err(), "{bad:?}");
        }
        let path = StorePath::new("streams/ORDERS/msgs/1.blk").expect("valid");
        assert_eq!(path.name(), "1.blk");
        assert_eq!(
            path.parent().map(|p| p.to_string()),
            Some("streams/ORDERS/msgs".to_string())
        );
        assert!(StorePath::new("top").expect("valid").parent().is_none());
        assert!(path.join("..").is_err());
    }
}
