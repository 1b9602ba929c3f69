//! `natrix-sim`: runs seeded simulations and reports any broken invariant with the command that
//! replays it.
//!
//! ```text
//! cargo run -p natrix-sim --profile sim -- --seeds 500          # seeds 0..500
//! cargo run -p natrix-sim --profile sim -- --seeds 100 --start 9000
//! SIM_SEED=42 cargo run -p natrix-sim --profile sim             # replay one seed, verbosely
//! cargo run -p natrix-sim --profile sim -- --regression --fresh 200 --budget 120 --determinism 5
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natrix_sim::run::run;

/// Seeds that once failed (or cover a rare fault mix); CI runs them all every time.
const REGRESSION_SEEDS: &str = include_str!("../regression-seeds.txt");

struct Args {
    seeds: u64,
    start: u64,
    regression: bool,
    fresh: u64,
    budget: Option<Duration>,
    determinism: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seeds: 0,
        start: 0,
        regression: false,
        fresh: 0,
        budget: None,
        determinism: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seeds" => args.seeds = number("--seeds")?,
            "--start" => args.start = number("--start")?,
            "--regression" => args.regression = true,
            "--fresh" => args.fresh = number("--fresh")?,
            "--budget" => args.budget = Some(Duration::from_secs(number("--budget")?)),
            "--determinism" => args.determinism = number("--determinism")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Runs one seed in this process and prints its result line (and, on failure, the violations
/// and the replay command).
fn run_here(seed: u64, verbose: bool) -> bool {
    let outcome = run(seed);
    let cluster = natrix_sim::cluster::run(seed);
    let requests = natrix_sim::requests::run(seed);
    let storage = natrix_sim::storage::run(seed);
    let jetstream = natrix_sim::jetstream::run(seed);
    let hash = format!(
        "{}-{}-{}-{}-{}",
        outcome.history.trace_hash(),
        cluster.trace_hash(),
        requests.trace_hash(),
        storage.trace_hash(),
        jetstream.trace_hash()
    );
    if std::env::var_os("SIM_DUMP").is_some() {
        for event in &outcome.history.events {
            println!("{event:?}");
        }
    }
    let ok = outcome.violations.is_empty()
        && cluster.violations.is_empty()
        && requests.violations.is_empty()
        && storage.violations.is_empty()
        && jetstream.violations.is_empty();
    println!(
        "result seed={seed} hash={hash} faults={} status={}",
        outcome.plan.fault_count()
            + cluster.plan.faults.len()
            + requests.plan.faults.len()
            + storage.plan.faults()
            + jetstream.plan.faults(),
        if ok { "ok" } else { "fail" }
    );
    if verbose || !ok {
        println!("  fault plan: {}", outcome.plan);
        println!(
            "  final: {:?}, {} events",
            outcome.final_state,
            outcome.history.events.len()
        );
    }
    if verbose || !cluster.violations.is_empty() {
        println!("  cluster plan: {}", cluster.plan);
        println!("  cluster: {} deliveries", cluster.log.deliveries.len());
    }
    if verbose || !requests.violations.is_empty() {
        println!("  request plan: {}", requests.plan);
        println!(
            "  requests: {} sent, {} no-responders statuses, {} received",
            requests.log.sent.len(),
            requests.log.no_responders.len(),
            requests.log.received.len()
        );
    }
    if verbose || !storage.violations.is_empty() {
        println!("  storage plan: {}", storage.plan);
        println!("  storage: {} acknowledged events", storage.trace.len());
    }
    if verbose || !jetstream.violations.is_empty() {
        println!("  jetstream plan: {}", jetstream.plan);
        println!(
            "  jetstream: {} acks, {} read back",
            jetstream.log.acks.len(),
            jetstream.log.reads.len()
        );
    }
    for violation in outcome
        .violations
        .iter()
        .chain(&cluster.violations)
        .chain(&requests.violations)
        .chain(&storage.violations)
        .chain(&jetstream.violations)
    {
        println!("  {violation}");
    }
    if !ok {
        println!("  replay: SIM_SEED={seed} cargo run -p natrix-sim --profile sim");
    }
    ok
}

/// What a seed's child process reported.
struct SeedResult {
    ok: bool,
    hash: String,
    faults: usize,
    output: String,
}

/// Runs one seed in a fresh process, so no state left in this one (tokio's task ids, hash
/// seeds) can make a campaign run differ from its replay.
fn run_child(seed: u64) -> SeedResult {
    let output = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env("SIM_SEED", seed.to_string())
            .output()
    });
    let text = match output {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        Err(e) => format!("could not run the seed: {e}"),
    };
    let line = text.lines().find(|l| l.starts_with("result ")).unwrap_or("");
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or("")
            .to_string()
    };
    SeedResult {
        ok: field("status=") == "ok",
        hash: field("hash="),
        faults: field("faults=").parse().unwrap_or(0),
        output: text,
    }
}

fn main() -> ExitCode {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let Ok(seed) = seed.parse() else {
            eprintln!("SIM_SEED must be a number");
            return ExitCode::FAILURE;
        };
        return if run_here(seed, std::env::var_os("SIM_QUIET").is_none()) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("natrix-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let regression: Vec<u64> = REGRESSION_SEEDS
        .lines()
        .filter_map(|l| l.split('#').next()?.trim().parse::<u64>().ok())
        .collect();
    let mut seeds: Vec<u64> = if args.regression {
        regression.clone()
    } else {
        Vec::new()
    };
    let fresh_start = if args.fresh > 0 {
        // Fresh seeds differ from run to run; each failure prints its seed, so it can be replayed.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() * 1000)
    } else {
        args.start
    };
    let count = args.seeds.max(args.fresh);
    seeds.extend(fresh_start..fresh_start + count);
    let must_run = if args.regression { regression.len() } else { 0 };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, SeedResult, Option<String>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { break };
                if i >= must_run && args.budget.is_some_and(|b| started.elapsed() > b) {
                    break;
                }
                let result = run_child(seed);
                let again = (i < args.determinism as usize).then(|| run_child(seed).hash);
                if let Ok(mut all) = results.lock() {
                    all.push((seed, result, again));
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let (mut passed, mut failed, mut longest) = (0u64, 0u64, 0usize);
    for (seed, result, again) in &results {
        longest = longest.max(result.faults);
        if result.ok {
            passed += 1;
        } else {
            failed += 1;
            print!("{}", result.output.replace("result ", "FAIL "));
        }
        if let Some(again) = again {
            if *again != result.hash {
                failed += 1;
                println!(
                    "FAIL seed={seed}: not deterministic (hash {} then {again})",
                    result.hash
                );
                println!("  replay: SIM_SEED={seed} cargo run -p natrix-sim --profile sim");
            }
        }
    }
    if results.len() < seeds.len() {
        println!(
            "budget of {:?} reached after {} seeds",
            args.budget.unwrap_or_default(),
            results.len()
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "natrix-sim: {} seeds in {elapsed:.0} s ({:.0} seeds/min on {workers} workers); longest fault plan {longest} faults",
        results.len(),
        results.len() as f64 / elapsed * 60.0
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
