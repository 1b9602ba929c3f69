//! An in-memory file system that runs [`IoRequest`]s with the same meaning as the file
//! executor runs them against a real one: for tests, and as the model the executor is checked
//! against. It does not model durability (everything written is kept); the simulator's disk
//! does.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::io::{IoCompletion, IoError, IoErrorKind, IoId, IoOutcome, IoRequest, StorePath};

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    dirs: BTreeSet<StorePath>,
    files: BTreeMap<StorePath, Vec<u8>>,
}

fn not_found(what: &StorePath) -> IoError {
    IoError::new(IoErrorKind::NotFound, format!("{what}: No such file or directory"))
}

impl MemFs {
    /// An empty store.
    pub fn new() -> Self {
        MemFs::default()
    }

    /// Runs `request` and returns its completion.
    pub fn run(&mut self, id: IoId, request: &IoRequest) -> IoCompletion {
        IoCompletion {
            id,
            result: self.apply(request),
        }
    }

    /// Whether `dir` (`None`: the store's own) exists.
    fn dir_exists(&self, dir: Option<&StorePath>) -> bool {
        dir.is_none_or(|d| self.dirs.contains(d))
    }

    fn parent_exists(&self, path: &StorePath) -> Result<(), IoError> {
        if self.dir_exists(path.parent().as_ref()) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }

    fn file(&self, path: &StorePath) -> Result<&Vec<u8>, IoError> {
        self.files.get(path).ok_or_else(|| not_found(path))
    }

    fn file_mut(&mut self, path: &StorePath) -> Result<&mut Vec<u8>, IoError> {
        self.files.get_mut(path).ok_or_else(|| not_found(path))
    }

    fn apply(&mut self, request: &IoRequest) -> Result<IoOutcome, IoError> {
        match request {
            IoRequest::CreateDir { dir } => {
                let mut at = Some(dir.clone());
                while let Some(d) = at {
                    if self.files.contains_key(&d) {
                        return Err(IoError::new(IoErrorKind::Other, format!("{d}: File exists")));
                    }
                    at = d.parent();
                    self.dirs.insert(d);
                }
                Ok(IoOutcome::Done)
            }
            IoRequest::Write { path, offset, data } => {
                self.parent_exists(path)?;
                let file = self.files.entry(path.clone()).or_default();
                // Writing nothing creates the file but, as on a real one, does not extend it.
                if data.is_empty() {
                    return Ok(IoOutcome::Done);
                }
                let offset =
                    usize::try_from(*offset).map_err(|_| IoError::new(IoErrorKind::Other, "offset too large"))?;
                let end = offset + data.len();
                if file.len() < end {
                    file.resize(end, 0);
                }
                file[offset..end].copy_from_slice(data);
                Ok(IoOutcome::Done)
            }
            IoRequest::Sync { path } => self.file(path).map(|_| IoOutcome::Done),
            IoRequest::SyncDir { dir } => {
                if self.dir_exists(dir.as_ref()) {
                    Ok(IoOutcome::Done)
                } else {
                    Err(IoError::new(IoErrorKind::NotFound, "No such file or directory"))
                }
            }
            IoRequest::Read { path, offset, len } => {
                let file = self.file(path)?;
                let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(file.len());
                let end = start.saturating_add(*len).min(file.len());
                Ok(IoOutcome::Data(Bytes::copy_from_slice(&file[start..end])))
            }
            IoRequest::Truncate { path, len } => {
                let len = usize::try_from(*len).map_err(|_| IoError::new(IoErrorKind::Other, "length too large"))?;
                self.file_mut(path)?.resize(len, 0);
                Ok(IoOutcome::Done)
            }
            IoRequest::Size { path } => Ok(IoOutcome::Size(self.file(path)?.len() as u64)),
            IoRequest::Rename { from, to } => {
                self.parent_exists(to)?;
                let data = self.files.remove(from).ok_or_else(|| not_found(from))?;
                self.files.insert(to.clone(), data);
                Ok(IoOutcome::Done)
            }
            IoRequest::Remove { path } => self
                .files
                .remove(path)
                .map(|_| IoOutcome::Done)
                .ok_or_else(|| not_found(path)),
            IoRequest::RemoveDir { dir } => {
                if !self.dirs.contains(dir) {
                    return Err(not_found(dir));
                }
                let inside = |p: &StorePath| p == dir || p.as_str().starts_with(&format!("{dir}/"));
                self.dirs.retain(|d| !inside(d));
                self.files.retain(|f, _| !inside(f));
                Ok(IoOutcome::Done)
            }
            IoRequest::List { dir } => {
                if !self.dir_exists(dir.as_ref()) {
                    return Err(IoError::new(IoErrorKind::NotFound, "No such file or directory"));
                }
                let children = self
                    .dirs
                    .iter()
                    .chain(self.files.keys())
                    .filter(|p| p.parent().as_ref() == dir.as_ref())
                    .map(|p| p.name().to_string());
                let names: BTreeSet<String> = children.collect();
                Ok(IoOutcome::Names(names.into_iter().collect()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> StorePath {
        StorePath::new(p).expect("valid path")
    }

    #[test]
    fn writes_reads_and_renames() {
        let mut fs = MemFs::new();
        let run = |fs: &mut MemFs, r: IoRequest| fs.run(IoId(0), &r).result;
        assert_eq!(
            run(&mut fs, IoRequest::CreateDir { dir: path("s/a") }),
            Ok(IoOutcome::Done)
        );
        let write = |offset, data: &'static [u8]| IoRequest::Write {
            path: path("s/a/1.blk"),
            offset,
            data: Bytes::from_static(data),
        };
        assert_eq!(run(&mut fs, write(0, b"hello")), Ok(IoOutcome::Done));
        assert_eq!(run(&mut fs, write(7, b"!")), Ok(IoOutcome::Done));
        let read = IoRequest::Read {
            path: path("s/a/1.blk"),
            offset: 3,
            len: 100,
        };
        assert_eq!(run(&mut fs, read), Ok(IoOutcome::Data(Bytes::from_static(b"lo\0\0!"))));
        let rename = IoRequest::Rename {
            from: path("s/a/1.blk"),
            to: path("s/2.blk"),
        };
        assert_eq!(run(&mut fs, rename), Ok(IoOutcome::Done));
        let list = run(&mut fs, IoRequest::List { dir: Some(path("s")) });
        assert_eq!(list, Ok(IoOutcome::Names(vec!["2.blk".to_string(), "a".to_string()])));
        let missing = run(
            &mut fs,
            IoRequest::Size {
                path: path("s/a/1.blk"),
            },
        );
        assert_eq!(missing.map_err(|e| e.kind), Err(IoErrorKind::NotFound));
        let orphan = run(
            &mut fs,
            IoRequest::Write {
                path: path("nodir/x"),
                offset: 0,
                data: Bytes::new(),
            },
        );
        assert_eq!(orphan.map_err(|e| e.kind), Err(IoErrorKind::NotFound));
        assert_eq!(
            run(&mut fs, IoRequest::RemoveDir { dir: path("s") }),
            Ok(IoOutcome::Done)
        );
        assert_eq!(
            run(&mut fs, IoRequest::List { dir: None }),
            Ok(IoOutcome::Names(Vec::new()))
        );
    }
}
