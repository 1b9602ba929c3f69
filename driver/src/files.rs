//! The file executor: runs the storage engine's IO requests against the real file system, on
//! a thread of its own, so neither runtime's event loop ever waits for a disk.
//!
//! Requests run one at a time in the order they were submitted; each completion is handed to
//! the callback the runtime gave (tokio: a channel to the core's task; mio: a queue and the
//! loop's `Waker`). Syncs of the same file that are waiting together are done with one
//! `fdatasync` and all completed by it: group commit itself is the engine's (one sync covers
//! every append before it), this only keeps a burst of syncs from costing one each. Open files
//! are kept open between requests.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use bytes::Bytes;
use natrix_store::io::{IoCompletion, IoError, IoErrorKind, IoId, IoOutcome, IoRequest, StorePath};

/// Requests taken from the queue in one go (and so the most syncs one `fdatasync` can serve).
const BATCH: usize = 256;

/// See the module docs. Dropping it finishes what was submitted, then stops the thread.
pub struct FileExecutor {
    requests: Option<mpsc::Sender<(IoId, IoRequest)>>,
    thread: Option<JoinHandle<()>>,
}

impl FileExecutor {
    /// Starts the executor for the store in directory `root` (created if missing); every
    /// completion goes to `done`, in submission order.
    pub fn start(root: PathBuf, mut done: impl FnMut(IoCompletion) + Send + 'static) -> io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let (requests, queue) = mpsc::channel::<(IoId, IoRequest)>();
        let thread = std::thread::Builder::new()
            .name("natrix-files".to_string())
            .spawn(move || {
                let mut disk = Disk {
                    root,
                    open: HashMap::new(),
                };
                let mut batch = Vec::with_capacity(BATCH);
                while let Ok(first) = queue.recv() {
                    batch.push(first);
                    while batch.len() < BATCH {
                        match queue.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    disk.run_batch(&mut batch, &mut done);
                }
            })?;
        Ok(FileExecutor {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Queues `request`; its completion comes to the callback later (never from this call).
    pub fn submit(&self, id: IoId, request: IoRequest) {
        if let Some(requests) = &self.requests {
            // The thread outlives the sender (it stops only when the sender is dropped).
            let _ = requests.send((id, request));
        }
    }
}

impl Drop for FileExecutor {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The executor thread's state: the store's directory and the files it has open.
struct Disk {
    root: PathBuf,
    open: HashMap<StorePath, File>,
}

impl Disk {
    fn run_batch(&mut self, batch: &mut Vec<(IoId, IoRequest)>, done: &mut impl FnMut(IoCompletion)) {
        let mut i = 0;
        while i < batch.len() {
            if let IoRequest::Sync { path } = &batch[i].1 {
                // Adjacent syncs of the same file: one fdatasync serves them all.
                let mut end = i + 1;
                while matches!(batch.get(end), Some((_, IoRequest::Sync { path: p })) if p == path) {
                    end += 1;
                }
                let result = self.run(&batch[i].1);
                for (id, _) in &batch[i..end] {
                    done(IoCompletion {
                        id: *id,
                        result: result.clone(),
                    });
                }
                i = end;
                continue;
            }
            let result = self.run(&batch[i].1);
            done(IoCompletion { id: batch[i].0, result });
            i += 1;
        }
        batch.clear();
    }

    fn path(&self, path: &StorePath) -> PathBuf {
        self.root.join(path.as_str())
    }

    fn dir(&self, dir: Option<&StorePath>) -> PathBuf {
        dir.map_or_else(|| self.root.clone(), |d| self.path(d))
    }

    /// The open file at `path`; opened (and created, with `create`) if it is not open yet.
    fn file(&mut self, path: &StorePath, create: bool) -> io::Result<&mut File> {
        if !self.open.contains_key(path) {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(self.path(path))?;
            self.open.insert(path.clone(), file);
        }
        self.open
            .get_mut(path)
            .ok_or_else(|| io::Error::other("file table lost an entry"))
    }

    fn run(&mut self, request: &IoRequest) -> Result<IoOutcome, IoError> {
        self.execute(request).map_err(|e| to_io_error(&e))
    }

    fn execute(&mut self, request: &IoRequest) -> io::Result<IoOutcome> {
        match request {
            IoRequest::CreateDir { dir } => {
                std::fs::create_dir_all(self.path(dir))?;
                Ok(IoOutcome::Done)
            }
            IoRequest::Write { path, offset, data } => {
                let file = self.file(path, true)?;
                file.seek(SeekFrom::Start(*offset))?;
                file.write_all(data)?;
                Ok(IoOutcome::Done)
            }
            IoRequest::Sync { path } => {
                self.file(path, false)?.sync_data()?;
                Ok(IoOutcome::Done)
            }
            IoRequest::SyncDir { dir } => {
                File::open(self.dir(dir.as_ref()))?.sync_all()?;
                Ok(IoOutcome::Done)
            }
            IoRequest::Read { path, offset, len } => {
                let file = self.file(path, false)?;
                file.seek(SeekFrom::Start(*offset))?;
                let mut data = Vec::new();
                file.take(*len as u64).read_to_end(&mut data)?;
                Ok(IoOutcome::Data(Bytes::from(data)))
            }
            IoRequest::Truncate { path, len } => {
                self.file(path, false)?.set_len(*len)?;
                Ok(IoOutcome::Done)
            }
            IoRequest::Size { path } => Ok(IoOutcome::Size(self.file(path, false)?.metadata()?.len())),
            IoRequest::Rename { from, to } => {
                std::fs::rename(self.path(from), self.path(to))?;
                // An open handle follows the file; a handle on what `to` was is stale.
                self.open.remove(to);
                if let Some(file) = self.open.remove(from) {
                    self.open.insert(to.clone(), file);
                }
                Ok(IoOutcome::Done)
            }
            IoRequest::Remove { path } => {
                std::fs::remove_file(self.path(path))?;
                self.open.remove(path);
                Ok(IoOutcome::Done)
            }
            IoRequest::RemoveDir { dir } => {
                std::fs::remove_dir_all(self.path(dir))?;
                let prefix = format!("{dir}/");
                self.open.retain(|p, _| !p.as_str().starts_with(&prefix));
                Ok(IoOutcome::Done)
            }
            IoRequest::List { dir } => {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(self.dir(dir.as_ref()))? {
                    names.push(entry?.file_name().to_string_lossy().into_owned());
                }
                names.sort();
                Ok(IoOutcome::Names(names))
            }
        }
    }
}

/// The kind of an IO error, as the engine distinguishes them.
fn to_io_error(error: &io::Error) -> IoError {
    const EIO: i32 = 5;
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    let kind = match (error.kind(), error.raw_os_error()) {
        (io::ErrorKind::NotFound, _) => IoErrorKind::NotFound,
        (io::ErrorKind::PermissionDenied, _) => IoErrorKind::PermissionDenied,
        (_, Some(ENOSPC | EDQUOT)) => IoErrorKind::NoSpace,
        (_, Some(EIO)) => IoErrorKind::Io,
        _ => IoErrorKind::Other,
    };
    IoError::new(kind, error.to_string())
}
