//! JetStream's storage as a runtime holds it. In production: the file executor, started in the
//! store's directory, and the completions it sends back. In the simulator: a model disk (one
//! that loses what a power cut loses) run at once, in order, its completions fed back by the
//! runtime after the outputs of the input that asked for them, so a seed replays exactly.
//!
//! At start-up the binary runs the node's recovery through it ([`Storage::start_node`]) before
//! any client is served; the runtime then submits the node's [`natrix_core::Output::Io`]
//! requests ([`Storage::submit`]) and feeds their completions back: the file executor's from a
//! forwarding thread ([`Storage::forward`]), a model's from [`Storage::take_done`].

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc;

use natrix_core::{Input, Instant, Level, Node, Output};
use natrix_store::io::{IoCompletion, IoId, IoRequest};

use crate::files::FileExecutor;

/// A model disk: runs one request, at once.
pub type ModelDisk = Box<dyn FnMut(IoId, &IoRequest) -> IoCompletion + Send>;

enum Backend {
    Files {
        executor: FileExecutor,
        completions: Option<mpsc::Receiver<IoCompletion>>,
    },
    Model(ModelDisk),
}

/// See the module docs.
pub struct Storage {
    backend: Backend,
    /// A model's completions, waiting to be fed back.
    done: VecDeque<IoCompletion>,
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
            backend: Backend::Files {
                executor,
                completions: Some(completions),
            },
            done: VecDeque::new(),
        })
    }

    /// Storage on a model disk (the simulator's).
    pub fn model(disk: ModelDisk) -> Self {
        Storage {
            backend: Backend::Model(disk),
            done: VecDeque::new(),
        }
    }

    /// Queues a request.
    pub fn submit(&mut self, id: IoId, request: IoRequest) {
        match &mut self.backend {
            Backend::Files { executor, .. } => executor.submit(id, request),
            Backend::Model(disk) => {
                let completion = disk(id, &request);
                self.done.push_back(completion);
            }
        }
    }

    /// A model's next completion to feed back (always `None` for the file executor, whose
    /// completions come from [`Storage::forward`]).
    pub fn take_done(&mut self) -> Option<IoCompletion> {
        self.done.pop_front()
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
            if let Some(completion) = self.take_done() {
                node.handle(now, Input::IoDone(completion));
                continue;
            }
            if node.ready() {
                return Ok(());
            }
            let completion = match &self.backend {
                Backend::Files {
                    completions: Some(completions),
                    ..
                } => completions.recv().ok(),
                _ => None,
            };
            let completion = completion.ok_or_else(|| io::Error::other("the storage stopped answering"))?;
            node.handle(now, Input::IoDone(completion));
        }
    }

    /// Hands every later file-executor completion to `deliver` (the runtime's way into its
    /// loop), from a thread of its own. Nothing for a model disk.
    pub fn forward(&mut self, mut deliver: impl FnMut(IoCompletion) + Send + 'static) -> io::Result<()> {
        let Backend::Files { completions, .. } = &mut self.backend else {
            return Ok(());
        };
        let Some(completions) = completions.take() else {
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
