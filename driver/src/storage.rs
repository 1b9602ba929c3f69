//! JetStream's storage as a runtime holds it: the file executor, started in the store's
//! directory, and the completions it sends back. At start-up the binary runs the node's
//! recovery through it ([`Storage::start_node`]) before any client is served; the runtime then
//! forwards later completions into its loop ([`Storage::forward`]) and submits the node's
//! [`natrix_core::Output::Io`] requests ([`Storage::submit`]).

use std::io;
use std::path::PathBuf;
use std::sync::mpsc;

use natrix_core::{Input, Instant, Level, Node, Output};
use natrix_store::io::{IoCompletion, IoId, IoRequest};

use crate::files::FileExecutor;

/// See the module docs.
pub struct Storage {
    executor: FileExecutor,
    completions: Option<mpsc::Receiver<IoCompletion>>,
}

impl Storage {
    /// Starts the file executor in `root` (created if missing).
    pub fn start(root: PathBuf) -> io::Result<Self> {
        let (sender, completions) = mpsc::channel();
        let executor = FileExecutor::start(root, move |completion| {
            // The receiver lives as long as the runtime; after that nobody waits.
            let _ = sender.send(completion);
        })?;
        Ok(Storage {
            executor,
            completions: Some(completions),
        })
    }

    /// Queues a request.
    pub fn submit(&self, id: IoId, request: IoRequest) {
        self.executor.submit(id, request);
    }

    /// Starts `node` at `now` and runs its start-up IO (JetStream's recovery) until it is
    /// ready, handing every other output's log lines to `log`.
    pub fn start_node(&mut self, node: &mut Node, now: Instant, mut log: impl FnMut(Level, &str)) -> io::Result<()> {
        node.start(now);
        loop {
            while let Some(output) = node.poll_output() {
                match output {
                    Output::Io(id, request) => self.submit(id, request),
                    Output::Log { level, message } => log(level, &message),
                    _ => {}
                }
            }
            if node.ready() {
                return Ok(());
            }
            let completion = self
                .completions
                .as_ref()
                .and_then(|c| c.recv().ok())
                .ok_or_else(|| io::Error::other("the file executor stopped"))?;
            node.handle(now, Input::IoDone(completion));
        }
    }

    /// Hands every later completion to `deliver` (the runtime's way into its loop), from a
    /// thread of its own.
    pub fn forward(&mut self, mut deliver: impl FnMut(IoCompletion) + Send + 'static) -> io::Result<()> {
        let Some(completions) = self.completions.take() else {
            return Ok(());
        };
        std::thread::Builder::new()
            .name("natrix-io-done".to_string())
            .spawn(move || {
                while let Ok(completion) = completions.recv() {
                    deliver(completion);
                }
            })
            .map(drop)
    }
}
