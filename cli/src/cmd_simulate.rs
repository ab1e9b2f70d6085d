//! `rota simulate`: the placement core over a real trace, in virtual time.

use anyhow::{Context, bail};
use rota_events::{Backfill, PlacementPolicy};
use rota_simulator::{Machine, measure, simulate as run_simulation, swf};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Largest trace file read, in bytes after decompression.
pub const TRACE_BYTES_MAX: usize = 2 << 30;

/// Simulate a Standard Workload Format trace with the real placement core in
/// virtual time (no NATS) and report wait, bounded slowdown, utilization
/// and makespan.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota simulate --swf ../shared/workloads/lublin_256.swf\n  rota simulate --swf ../shared/workloads/SDSC-BLUE-2000-4.2-cln.swf.gz --policy conservative --json"
)]
pub struct SimulateArgs {
    /// The trace, plain or gzip-compressed (.gz).
    #[arg(long)]
    pub swf: PathBuf,
    /// fcfs (no backfill), easy or conservative backfill.
    #[arg(long, default_value = "easy", value_parser = ["fcfs", "easy", "conservative"])]
    pub policy: String,
    /// Processors of the machine (default: the trace header's MaxProcs).
    #[arg(long)]
    pub procs: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let text = read_trace(&args.swf)?;
    let trace = swf::parse(&text);
    let Some(procs) = args.procs.or(trace.max_procs) else {
        bail!(
            "{} names no machine size (no MaxProcs or MaxNodes header); pass --procs",
            args.swf.display()
        );
    };
    if procs == 0 {
        bail!("--procs is 0; the machine needs at least one processor");
    }
    let backfill = match args.policy.as_str() {
        "fcfs" => Backfill::Fcfs,
        "conservative" => Backfill::Conservative,
        _ => Backfill::Easy,
    };
    let policy = PlacementPolicy {
        backfill,
        ..PlacementPolicy::default()
    };
    let started = Instant::now();
    let outcome = run_simulation(&Machine::processors(procs), &trace.jobs, policy, false);
    let wall_s = started.elapsed().as_secs_f64();
    let metrics = measure(&outcome.state, procs * 1000);
    if args.json {
        let report = serde_json::json!({
            "trace": args.swf.display().to_string(),
            "policy": args.policy,
            "procs": procs,
            "jobs_simulated": trace.jobs.len(),
            "jobs_skipped": trace.skipped(),
            "skipped_no_runtime": trace.skipped_no_runtime,
            "skipped_no_procs": trace.skipped_no_procs,
            "skipped_malformed": trace.skipped_malformed,
            "metrics": metrics,
            "events": outcome.events,
            "placement_rounds": outcome.placement_rounds,
            "wall_s": wall_s,
        });
        println!("{report}");
    } else {
        println!("trace            {}", args.swf.display());
        println!("policy           {} on {procs} processors", args.policy);
        println!(
            "jobs             {} simulated, {} skipped ({} without run time, {} without processors, {} malformed)",
            trace.jobs.len(),
            trace.skipped(),
            trace.skipped_no_runtime,
            trace.skipped_no_procs,
            trace.skipped_malformed
        );
        println!(
            "finished         {} ({} stopped at their limit); {} never started (larger than the machine); {} refused by admission",
            metrics.jobs_finished,
            metrics.jobs_timed_out,
            metrics.jobs_never_started,
            metrics.jobs_rejected
        );
        println!("mean wait        {:.0} s", metrics.mean_wait_s);
        println!(
            "mean bounded slowdown (tau 10 s)  {:.2}",
            metrics.mean_bounded_slowdown
        );
        println!("utilization      {:.1} %", metrics.utilization * 100.0);
        println!(
            "makespan         {:.0} s ({:.1} days)",
            metrics.makespan_s,
            metrics.makespan_s / 86400.0
        );
        println!(
            "simulated in     {wall_s:.2} s ({} log events, {} placement rounds)",
            outcome.events, outcome.placement_rounds
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_trace(path: &PathBuf) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = String::new();
    reader
        .take(TRACE_BYTES_MAX as u64 + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as text", path.display()))?;
    if text.len() > TRACE_BYTES_MAX {
        bail!("{} is larger than {TRACE_BYTES_MAX} bytes", path.display());
    }
    Ok(text)
}
