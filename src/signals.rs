//! Signals, for every runtime: a thread waits for them and turns each into an operator action,
//! so neither runtime needs its own signal handling. `--signal` sends them to a running server.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use std::sync::mpsc;

use signal_hook::iterator::Signals;

/// What an operator asked for with a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGINT or SIGTERM, with Go's name for the signal.
    Stop(&'static str),
    /// SIGHUP.
    Reload,
    /// SIGUSR2.
    LameDuck,
    /// SIGUSR1.
    ReopenLog,
}

/// Takes over SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 now, and returns the actions they
/// ask for as they arrive. Installed before the server says it is ready, so a signal sent the
/// moment it is ready is handled rather than killing the process.
pub fn install() -> std::io::Result<mpsc::Receiver<Action>> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    let (actions, received) = mpsc::channel();
    std::thread::Builder::new().name("signals".to_string()).spawn(move || {
        for signal in signals.forever() {
            let action = match signal {
                SIGINT => Action::Stop("interrupt"),
                SIGTERM => Action::Stop("terminated"),
                SIGHUP => Action::Reload,
                SIGUSR1 => Action::ReopenLog,
                _ => Action::LameDuck,
            };
            if actions.send(action).is_err() {
                break;
            }
        }
    })?;
    Ok(received)
}

/// `--signal <command>[=<pid or pid file>]`: sends the command's signal to a running natrix.
pub fn send(expression: &str) -> Result<(), String> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let (command, target) = match expression.split_once('=') {
        Some((command, target)) => (command, Some(target)),
        None => (expression, None),
    };
    let signal = match command {
        "stop" => Signal::SIGKILL,
        "quit" => Signal::SIGINT,
        "term" => Signal::SIGTERM,
        "reopen" => Signal::SIGUSR1,
        "reload" => Signal::SIGHUP,
        "ldm" => Signal::SIGUSR2,
        _ => return Err(format!("unknown signal {command:?}")),
    };
    let pids = match target {
        Some(target) => match target.parse::<i32>() {
            Ok(pid) => vec![pid],
            // Not a number: a pid file.
            Err(_) => {
                let text = std::fs::read_to_string(target).map_err(|e| format!("open {target}: {e}"))?;
                vec![text
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| format!("invalid pid: {}", text.trim()))?]
            }
        },
        None => running_natrix_pids(),
    };
    match pids.as_slice() {
        [] => Err("no natrix processes running".to_string()),
        [pid] => kill(Pid::from_raw(*pid), signal).map_err(|e| format!("signal {command:?} {pid}: {e}")),
        many => Err(format!(
            "multiple natrix processes running:{}",
            many.iter().map(|p| format!("\n{p}")).collect::<String>()
        )),
    }
}

/// Other processes of this executable (by /proc), like nats-server's pgrep.
fn running_natrix_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| *pid != me)
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "natrix"))
        .collect();
    pids.sort_unstable();
    pids
}
