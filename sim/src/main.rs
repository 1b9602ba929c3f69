//! `natrix-sim`: runs seeded simulations and reports any broken invariant with the command that
//! replays it.
//!
//! ```text
//! cargo run -p natrix-sim --release -- --seeds 500          # seeds 0..500
//! cargo run -p natrix-sim --release -- --seeds 100 --start 9000
//! SIM_SEED=42 cargo run -p natrix-sim --release             # replay one seed, verbosely
//! cargo run -p natrix-sim --release -- --regression --fresh 200 --budget 120 --determinism 5
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use natrix_sim::run::{run, Outcome};

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

fn report_failure(outcome: &Outcome, hash: &str) {
    println!("FAIL seed={} hash={hash}", outcome.plan.seed);
    println!("  fault plan: {}", outcome.plan);
    for violation in &outcome.violations {
        println!("  {violation}");
    }
    println!(
        "  replay: SIM_SEED={} cargo run -p natrix-sim --release",
        outcome.plan.seed
    );
}

/// Runs one seed; returns whether it passed.
fn run_seed(seed: u64, verbose: bool) -> (bool, String, usize) {
    let outcome = run(seed);
    let hash = outcome.history.trace_hash();
    if verbose {
        println!("seed={seed} hash={hash} events={}", outcome.history.events.len());
        println!("  fault plan: {}", outcome.plan);
        println!("  final: {:?}", outcome.final_state);
    }
    if outcome.violations.is_empty() {
        (true, hash, outcome.plan.fault_count())
    } else {
        report_failure(&outcome, &hash);
        (false, hash, outcome.plan.fault_count())
    }
}

fn main() -> ExitCode {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let Ok(seed) = seed.parse() else {
            eprintln!("SIM_SEED must be a number");
            return ExitCode::FAILURE;
        };
        let (ok, ..) = run_seed(seed, true);
        return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("natrix-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut seeds: Vec<u64> = Vec::new();
    if args.regression {
        seeds.extend(
            REGRESSION_SEEDS
                .lines()
                .filter_map(|l| l.split('#').next()?.trim().parse::<u64>().ok()),
        );
    }
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
    let (mut passed, mut failed, mut longest) = (0u64, 0u64, 0usize);
    for (i, seed) in seeds.iter().enumerate() {
        if let Some(budget) = args.budget {
            if started.elapsed() > budget && i >= REGRESSION_SEEDS.lines().count() {
                println!("budget of {budget:?} reached after {i} seeds");
                break;
            }
        }
        let (ok, hash, faults) = run_seed(*seed, false);
        longest = longest.max(faults);
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        if (i as u64) < args.determinism {
            let (_, again, _) = run_seed(*seed, false);
            if again != hash {
                println!("FAIL seed={seed}: not deterministic (hash {hash} then {again})");
                println!("  replay: SIM_SEED={seed} cargo run -p natrix-sim --release");
                failed += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "natrix-sim: {passed} passed, {failed} failed; {:.1} seeds/min; longest fault plan {longest} faults",
        (passed + failed) as f64 / elapsed * 60.0
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
