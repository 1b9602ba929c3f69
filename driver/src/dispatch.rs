//! The core's outputs, taken the way the driver contract says: every output of an input is
//! drained before the next input goes in (the single-mutation rule the core asserts). Each
//! runtime says what an output means for its sockets, tasks and threads by implementing
//! [`Runtime`]; [`drain`] is the one loop that takes them.

use bytes::Bytes;
use natrix_core::auth::credentials::PasswordCheck;
use natrix_core::cluster::DialId;
use natrix_core::{CloseReason, ConnId, Input, Instant, Level, Node, Output};

/// What one runtime does for each output.
pub trait Runtime {
    /// The core it drives.
    fn server(&mut self) -> &mut Node;
    /// The core's clock, now.
    fn now(&self) -> Instant;
    /// Bytes are queued for `conn` (the runtime takes them with `Node::take_outbound` when it
    /// flushes).
    fn write(&mut self, conn: ConnId);
    /// The core has forgotten `conn`: write `flush` and close it, or drop it at once when
    /// [`abandons`] says so (the runtime's own table entry goes either way).
    fn close(&mut self, conn: ConnId, reason: CloseReason, flush: Vec<Bytes>);
    /// Stop (`true`) or resume (`false`) reading from `conn`.
    fn pause_reading(&mut self, conn: ConnId, paused: bool);
    /// Close the client listener.
    fn stop_accepting(&mut self);
    /// Every connection is closed: finish writing and return.
    fn exit(&mut self);
    /// A log line.
    fn log(&mut self, level: Level, message: &str);
    /// Start dialing `address` for a route. `Err` (why) if the dial could not even start; the
    /// core then hears [`Input::DialFailed`].
    fn dial(&mut self, dial: DialId, address: String) -> Result<(), String>;
    /// Run `check` off the core's thread and answer with [`Input::PasswordChecked`]. `Err`
    /// (why) if it could not start; the check then fails.
    fn check_password(&mut self, conn: ConnId, check: PasswordCheck) -> Result<(), String>;
    /// Run a storage request on the file executor; its completion comes back as
    /// [`Input::IoDone`].
    fn io(&mut self, id: natrix_store::io::IoId, request: natrix_store::io::IoRequest);
    /// A storage completion the runtime holds for the core (a model disk's, which completes
    /// at once), if any: [`drain`] feeds them in once the outputs before them are taken.
    fn take_io_done(&mut self) -> Option<natrix_store::io::IoCompletion> {
        None
    }
}

/// Whether closing for `reason` drops the connection without writing what it still holds: a
/// slow consumer is closed because it does not take its bytes, so none are pushed at it.
pub fn abandons(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
    )
}

/// Takes every output the core has, acting on each. Answers the runtime must give itself (a
/// worker that could not start) go in only once every output is taken, one at a time, each
/// drained in turn.
pub fn drain(runtime: &mut impl Runtime) {
    let mut deferred = Vec::new();
    loop {
        while let Some(output) = runtime.server().poll_output() {
            match output {
                Output::Write(conn) => runtime.write(conn),
                Output::Close { conn, reason, flush } => runtime.close(conn, reason, flush),
                Output::PauseReading(conn) => runtime.pause_reading(conn, true),
                Output::ResumeReading(conn) => runtime.pause_reading(conn, false),
                Output::StopAccepting => runtime.stop_accepting(),
                Output::Exit => runtime.exit(),
                Output::Log { level, message } => runtime.log(level, &message),
                Output::Io(id, request) => runtime.io(id, request),
                Output::Dial { dial, address } => {
                    if let Err(error) = runtime.dial(dial, address) {
                        deferred.push(Input::DialFailed { dial, error });
                    }
                }
                Output::CheckPassword { conn, check } => {
                    if runtime.check_password(conn, check).is_err() {
                        deferred.push(Input::PasswordChecked { conn, ok: false });
                    }
                }
            }
        }
        let input = if deferred.is_empty() {
            match runtime.take_io_done() {
                Some(completion) => Input::IoDone(completion),
                None => return,
            }
        } else {
            deferred.remove(0)
        };
        let now = runtime.now();
        runtime.server().handle(now, input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natrix_core::config::cluster::{ClusterSettings, RouteUrl};
    use natrix_core::Config;

    /// A runtime that cannot start any worker: every dial fails to start.
    struct NoWorkers {
        server: Node,
        dials: usize,
        logs: Vec<String>,
    }

    impl Runtime for NoWorkers {
        fn server(&mut self) -> &mut Node {
            &mut self.server
        }
        fn now(&self) -> Instant {
            Instant::from_nanos(1)
        }
        fn write(&mut self, _: ConnId) {}
        fn close(&mut self, _: ConnId, _: CloseReason, _: Vec<Bytes>) {}
        fn pause_reading(&mut self, _: ConnId, _: bool) {}
        fn stop_accepting(&mut self) {}
        fn exit(&mut self) {}
        fn log(&mut self, _: Level, message: &str) {
            self.logs.push(message.to_string());
        }
        fn dial(&mut self, _: DialId, _: String) -> Result<(), String> {
            self.dials += 1;
            Err("no threads".to_string())
        }
        fn check_password(&mut self, _: ConnId, _: PasswordCheck) -> Result<(), String> {
            Err("no threads".to_string())
        }
        fn io(&mut self, _: natrix_store::io::IoId, _: natrix_store::io::IoRequest) {}
    }

    #[test]
    fn answers_the_runtime_gives_itself_wait_for_the_outputs_to_be_taken() {
        let config = Config {
            cluster: Some(ClusterSettings {
                routes: vec![RouteUrl::parse("nats-route://10.0.0.1:6222").expect("url")],
                ..ClusterSettings::default()
            }),
            ..Config::default()
        };
        let mut runtime = NoWorkers {
            server: Node::new(config),
            dials: 0,
            logs: Vec::new(),
        };
        // The first cluster timer asks for the dial; its failure goes in after the drain
        // (the core would panic on an input fed while outputs wait).
        runtime.server.handle_timeout(Instant::from_nanos(1));
        drain(&mut runtime);
        assert_eq!(runtime.dials, 1);
        assert!(runtime.server.poll_output().is_none());
        assert!(runtime.server.poll_timeout().is_some(), "a redial is scheduled");
    }

    #[test]
    fn slow_consumers_are_abandoned_and_others_flushed() {
        assert!(abandons(CloseReason::SlowConsumerPendingBytes));
        assert!(abandons(CloseReason::SlowConsumerWriteDeadline));
        assert!(!abandons(CloseReason::ClientClosed));
        assert!(!abandons(CloseReason::ServerShutdown));
    }
}
