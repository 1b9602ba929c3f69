//! An in-memory disk that loses what a power cut loses: [`CrashFs`] runs the same requests as
//! [`crate::memory::MemFs`], but remembers what is durable, and [`CrashFs::crash`] throws the
//! rest away, optionally keeping a torn piece of what was written but not synced.
//!
//! Durability follows POSIX as the engine relies on it: a file's data (and length) is durable
//! up to its last completed `Sync`; a directory entry (a file created, renamed or removed) is
//! durable once a `SyncDir` of its directory completes. Files are inodes, so a renamed file
//! keeps its data and its durability. The simulator builds its faulty disk on this; tests use
//! it to check that nothing acknowledged is lost at a crash.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::io::{IoCompletion, IoError, IoErrorKind, IoId, IoOutcome, IoRequest, StorePath};

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

/// What survives of unsynced writes at a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// Nothing: each file is as of its last sync.
    Nothing,
    /// Of each file's unsynced tail, the first `n` bytes survive (a write cut short).
    Prefix(usize),
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct CrashFs {
    inodes: Vec<Inode>,
    dirs: BTreeSet<StorePath>,
    durable_dirs: BTreeSet<StorePath>,
    entries: BTreeMap<StorePath, usize>,
    durable_entries: BTreeMap<StorePath, usize>,
}

fn not_found(what: &StorePath) -> IoError {
    IoError::new(IoErrorKind::NotFound, format!("{what}: No such file or directory"))
}

impl CrashFs {
    /// An empty disk.
    pub fn new() -> Self {
        CrashFs::default()
    }

    /// Runs `request` and returns its completion.
    pub fn run(&mut self, id: IoId, request: &IoRequest) -> IoCompletion {
        IoCompletion {
            id,
            result: self.apply(request),
        }
    }

    /// A power cut: only what was durable is left (and, with [`Torn::Prefix`], the start of
    /// each file's unsynced tail).
    pub fn crash(&mut self, torn: Torn) {
        self.entries = self.durable_entries.clone();
        self.dirs = self.durable_dirs.clone();
        for inode in &mut self.inodes {
            let mut data = inode.durable.clone();
            if let Torn::Prefix(n) = torn {
                // Bytes past the durable length that were written survive up to `n`.
                let start = data.len().min(inode.data.len());
                let end = (start + n).min(inode.data.len());
                if inode.data[..start] == data[..start] {
                    data.extend_from_slice(&inode.data[start..end]);
                }
            }
            inode.data = data.clone();
            inode.durable = data;
        }
    }

    fn dir_exists(&self, dir: Option<&StorePath>) -> bool {
        dir.is_none_or(|d| self.dirs.contains(d))
    }

    fn inode(&self, path: &StorePath) -> Result<usize, IoError> {
        self.entries.get(path).copied().ok_or_else(|| not_found(path))
    }

    /// Makes the entries of `dir` durable as they are now.
    fn sync_dir(&mut self, dir: Option<&StorePath>) {
        let inside = |p: &StorePath| p.parent().as_ref() == dir;
        self.durable_entries.retain(|p, _| !inside(p));
        for (p, i) in &self.entries {
            if inside(p) {
                self.durable_entries.insert(p.clone(), *i);
            }
        }
        self.durable_dirs.retain(|d| !inside(d));
        for d in &self.dirs {
            if inside(d) {
                self.durable_dirs.insert(d.clone());
            }
        }
    }

    fn apply(&mut self, request: &IoRequest) -> Result<IoOutcome, IoError> {
        match request {
            IoRequest::CreateDir { dir } => {
                let mut at = Some(dir.clone());
                while let Some(d) = at {
                    if self.entries.contains_key(&d) {
                        return Err(IoError::new(IoErrorKind::Other, format!("{d}: File exists")));
                    }
                    at = d.parent();
                    self.dirs.insert(d);
                }
                Ok(IoOutcome::Done)
            }
            IoRequest::Write { path, offset, data } => {
                if !self.dir_exists(path.parent().as_ref()) {
                    return Err(not_found(path));
                }
                let i = match self.entries.get(path) {
                    Some(i) => *i,
                    None => {
                        self.inodes.push(Inode::default());
                        let i = self.inodes.len() - 1;
                        self.entries.insert(path.clone(), i);
                        i
                    }
                };
                let file = &mut self.inodes[i].data;
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
            IoRequest::Sync { path } => {
                let i = self.inode(path)?;
                self.inodes[i].durable = self.inodes[i].data.clone();
                Ok(IoOutcome::Done)
            }
            IoRequest::SyncDir { dir } => {
                if !self.dir_exists(dir.as_ref()) {
                    return Err(IoError::new(IoErrorKind::NotFound, "No such file or directory"));
                }
                self.sync_dir(dir.as_ref());
                Ok(IoOutcome::Done)
            }
            IoRequest::Read { path, offset, len } => {
                let file = &self.inodes[self.inode(path)?].data;
                let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(file.len());
                let end = start.saturating_add(*len).min(file.len());
                Ok(IoOutcome::Data(Bytes::copy_from_slice(&file[start..end])))
            }
            IoRequest::Truncate { path, len } => {
                let i = self.inode(path)?;
                let len = usize::try_from(*len).map_err(|_| IoError::new(IoErrorKind::Other, "length too large"))?;
                self.inodes[i].data.resize(len, 0);
                Ok(IoOutcome::Done)
            }
            IoRequest::Size { path } => Ok(IoOutcome::Size(self.inodes[self.inode(path)?].data.len() as u64)),
            IoRequest::Rename { from, to } => {
                if !self.dir_exists(to.parent().as_ref()) {
                    return Err(not_found(to));
                }
                let i = self.entries.remove(from).ok_or_else(|| not_found(from))?;
                self.entries.insert(to.clone(), i);
                Ok(IoOutcome::Done)
            }
            IoRequest::Remove { path } => self
                .entries
                .remove(path)
                .map(|_| IoOutcome::Done)
                .ok_or_else(|| not_found(path)),
            IoRequest::RemoveDir { dir } => {
                if !self.dirs.contains(dir) {
                    return Err(not_found(dir));
                }
                let inside = |p: &StorePath| p == dir || p.as_str().starts_with(&format!("{dir}/"));
                self.dirs.retain(|d| !inside(d));
                self.entries.retain(|f, _| !inside(f));
                Ok(IoOutcome::Done)
            }
            IoRequest::List { dir } => {
                if !self.dir_exists(dir.as_ref()) {
                    return Err(IoError::new(IoErrorKind::NotFound, "No such file or directory"));
                }
                let names: BTreeSet<String> = self
                    .dirs
                    .iter()
                    .chain(self.entries.keys())
                    .filter(|p| p.parent().as_ref() == dir.as_ref())
                    .map(|p| p.name().to_string())
                    .collect();
                Ok(IoOutcome::Names(names.into_iter().collect()))
            }
        }
    }
}
