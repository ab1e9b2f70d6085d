//! `rota simulate`: the placement core over a real trace, in virtual time;
//! or, with `--faults`, the deterministic fault simulator over every core.

use anyhow::{Context, bail};
use rota_events::{Backfill, PlacementPolicy};
use rota_simulator::{
    Machine, SimOptions, gpu_trace, measure, measure_gpu, simulate as run_simulation, swf,
};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Largest trace file read, in bytes after decompression.
pub const TRACE_BYTES_MAX: usize = 2 << 30;

/// Simulate a trace with the real admission and placement cores in virtual
/// time (no NATS): a Standard Workload Format trace (wait, bounded slowdown,
/// utilization, makespan), or a GPU cluster's node and pod lists (pods
/// placed, waited and never placed; GPU allocation ratio over time).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota simulate --swf ../shared/workloads/lublin_256.swf\n  rota simulate --swf ../shared/workloads/SDSC-BLUE-2000-4.2-cln.swf.gz --policy conservative --json\n  rota simulate --gpu-nodes ../shared/workloads/openb_node_list_all_node.csv --gpu-pods ../shared/workloads/openb_pod_list_default.csv"
)]
pub struct SimulateArgs {
    /// An SWF trace, plain or gzip-compressed (.gz).
    #[arg(long, required_unless_present_any = ["gpu_pods", "faults"], conflicts_with_all = ["gpu_nodes", "gpu_pods", "faults"])]
    pub swf: Option<PathBuf>,
    /// A GPU cluster's node list (CSV: sn,cpu_milli,memory_mib,gpu,model).
    #[arg(long, requires = "gpu_pods")]
    pub gpu_nodes: Option<PathBuf>,
    /// A GPU cluster's pod list (CSV, as cluster-trace-gpu-v2023).
    #[arg(long, requires = "gpu_nodes")]
    pub gpu_pods: Option<PathBuf>,
    /// fcfs (no backfill), easy or conservative backfill.
    #[arg(long, default_value = "easy", value_parser = ["fcfs", "easy", "conservative"])]
    pub policy: String,
    /// Processors of the machine (default: the trace header's MaxProcs).
    #[arg(long)]
    pub procs: Option<u64>,
    /// A tenants file (as for `rota tenants set`): the fair-share service
    /// then runs in the simulation and its factors order the queue.
    /// Without it every tenant's factor is neutral.
    #[arg(long)]
    pub tenants: Option<PathBuf>,
    /// Run an SWF trace's queues (field 15, named in its header) as
    /// priority classes: interactive, express and high above normal, low
    /// and standby (other queues count as normal). With `requeue` or
    /// `checkpoint` the top three preempt the others in that mode
    /// (protected for 600 s after they start, at most 2 times each; a
    /// checkpointed job resumes where it stopped); with `off` none does.
    /// The report then adds jobs preempted, work lost and each class's mean
    /// wait.
    #[arg(long, value_parser = ["off", "requeue", "checkpoint"], requires = "swf")]
    pub queue_classes: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the deterministic fault simulator instead of a trace: each seed
    /// drives a simulated cell through a workload, crashes, restarts, stale
    /// leaders, duplicate publishes and node failures, checking the
    /// invariants after every step.
    #[arg(long, conflicts_with_all = ["gpu_nodes", "gpu_pods"])]
    pub faults: bool,
    /// With --faults: how many seeds to run, from --first-seed on.
    #[arg(long, default_value_t = 100, requires = "faults")]
    pub seeds: u64,
    /// With --faults: the first seed.
    #[arg(long, default_value_t = 1, requires = "faults")]
    pub first_seed: u64,
    /// With --faults: steps per seed (1 to 100000).
    #[arg(long, default_value_t = 400, requires = "faults", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub steps: u64,
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.faults {
        return simulate_faults(&args);
    }
    let options = SimOptions {
        tenants: args
            .tenants
            .as_deref()
            .map(crate::cmd_tenants::read_tenants_file)
            .transpose()?,
        ..SimOptions::new(policy(&args.policy))
    };
    let Some(swf_path) = &args.swf else {
        let nodes = args
            .gpu_nodes
            .as_ref()
            .context("--gpu-nodes is required with --gpu-pods")?;
        let pods = args
            .gpu_pods
            .as_ref()
            .context("--gpu-pods is required with --gpu-nodes")?;
        return simulate_gpu(nodes, pods, &options, &args);
    };
    let text = read_trace(swf_path)?;
    let mut trace = swf::parse(&text);
    let mut options = options;
    if let Some(preemption) = &args.queue_classes {
        let mode = match preemption.as_str() {
            "requeue" => Some(rota_events::PreemptionMode::Requeue),
            "checkpoint" => Some(rota_events::PreemptionMode::Checkpoint),
            _ => None,
        };
        rota_simulator::queue_classes::apply(&mut trace, &mut options.policy, mode);
    }
    let Some(procs) = args.procs.or(trace.max_procs) else {
        bail!(
            "{} names no machine size (no MaxProcs or MaxNodes header); pass --procs",
            swf_path.display()
        );
    };
    if procs == 0 {
        bail!("--procs is 0; the machine needs at least one processor");
    }
    let started = Instant::now();
    let outcome = run_simulation(&Machine::processors(procs), &trace.jobs, &options);
    let wall_s = started.elapsed().as_secs_f64();
    let metrics = measure(&outcome.state, procs * 1000);
    if args.json {
        let report = serde_json::json!({
            "trace": swf_path.display().to_string(),
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
            "preemptions": outcome.preemptions,
            "work_lost_core_hours": core_hours(outcome.work_lost_core_ms),
            "classes": rota_simulator::waits_by_class(&outcome.state),
            "wall_s": wall_s,
        });
        println!("{report}");
    } else {
        println!("trace            {}", swf_path.display());
        println!("policy           {} on {procs} processors", args.policy);
        if let Some(config) = &options.tenants {
            println!(
                "fair share       {} ({} top-level tenants)",
                config.fair_share.mode.as_str(),
                config.tenants.len()
            );
        }
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
        if let Some(preemption) = &args.queue_classes {
            println!(
                "preemption       {preemption}: {} preemptions, {:.0} core-hours of work lost",
                outcome.preemptions,
                core_hours(outcome.work_lost_core_ms)
            );
            println!("class            started   preempted   mean wait");
            for (class, wait) in rota_simulator::waits_by_class(&outcome.state) {
                println!(
                    "  {class:<14} {:>7}   {:>9}   {:.0} s",
                    wait.jobs_started, wait.jobs_preempted, wait.mean_wait_s
                );
            }
        }
        println!(
            "simulated in     {wall_s:.2} s ({} log events, {} placement rounds)",
            outcome.events, outcome.placement_rounds
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn core_hours(core_ms: u128) -> f64 {
    core_ms as f64 / 3_600_000.0
}

fn policy(name: &str) -> PlacementPolicy {
    let backfill = match name {
        "fcfs" => Backfill::Fcfs,
        "conservative" => Backfill::Conservative,
        _ => Backfill::Easy,
    };
    PlacementPolicy {
        backfill,
        ..PlacementPolicy::default()
    }
}

fn simulate_gpu(
    nodes: &PathBuf,
    pods: &PathBuf,
    options: &SimOptions,
    args: &SimulateArgs,
) -> anyhow::Result<ExitCode> {
    let machine = Machine {
        nodes: gpu_trace::parse_nodes(&read_trace(nodes)?).map_err(anyhow::Error::msg)?,
    };
    let (jobs, skipped) = gpu_trace::parse_pods(&read_trace(pods)?);
    let started = Instant::now();
    let outcome = run_simulation(&machine, &jobs, options);
    let wall_s = started.elapsed().as_secs_f64();
    let gpu_total_milli = u64::from(machine.total().gpus) * 1000;
    let metrics = measure_gpu(&outcome.state, gpu_total_milli);
    if args.json {
        let report = serde_json::json!({
            "nodes": machine.nodes.len(),
            "gpus": machine.total().gpus,
            "policy": args.policy,
            "pods_skipped_malformed": skipped.malformed,
            "pods_skipped_negative_lifetime": skipped.negative_lifetime,
            "metrics": metrics,
            "wall_s": wall_s,
        });
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let sorted = {
        let mut samples = metrics.gpu_allocation_hourly.clone();
        samples.sort_by(f64::total_cmp);
        samples
    };
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    println!(
        "cluster          {} nodes, {} GPUs ({})",
        machine.nodes.len(),
        machine.total().gpus,
        nodes.display()
    );
    println!("policy           {}", args.policy);
    println!(
        "pods             {} simulated, {} skipped ({} malformed, {} deleted before created)",
        metrics.pods,
        skipped.malformed + skipped.negative_lifetime,
        skipped.malformed,
        skipped.negative_lifetime
    );
    println!(
        "placed           {} ({} after waiting, mean wait {:.0} s); {} never placed; {} refused by admission",
        metrics.placed, metrics.waited, metrics.mean_wait_s, metrics.never_placed, metrics.rejected
    );
    println!(
        "GPU allocation   mean {:.1} %, median of hourly samples {:.1} %, max {:.1} % ({} hourly samples in --json)",
        metrics.gpu_allocation_mean * 100.0,
        median * 100.0,
        metrics.gpu_allocation_max * 100.0,
        metrics.gpu_allocation_hourly.len()
    );
    println!(
        "simulated in     {wall_s:.2} s ({} log events)",
        outcome.events
    );
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

/// Runs the fault simulator over `--seeds` seeds; exits 1 at the first
/// broken invariant, printing its seed and the shortest failing run.
fn simulate_faults(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (mut entries, mut fenced, mut duplicates, mut preempted) = (0, 0, 0, 0);
    let last = args.first_seed.saturating_add(args.seeds.saturating_sub(1));
    for seed in args.first_seed..=last {
        match rota_faults::run(seed, args.steps as usize, &rota_faults::standard_cores) {
            Ok(run) => {
                entries += run.entries;
                fenced += run.fenced;
                duplicates += run.duplicates;
                preempted += run.preempted;
            }
            Err(failure) => {
                println!("{failure}");
                println!(
                    "repeat with: rota simulate --faults --first-seed {seed} --seeds 1 --steps {}",
                    args.steps
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let report = serde_json::json!({
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "steps_per_seed": args.steps,
        "entries": entries,
        "fenced_decisions": fenced,
        "duplicate_publishes": duplicates,
        "preemptions": preempted,
        "broken": 0,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "rota simulate --faults: {} seeds ({}..={last}) of {} steps, no invariant broken; {entries} log entries, {fenced} stale decisions fenced, {duplicates} retried publishes deduplicated, {preempted} preemptions, in {:.1} s",
            args.seeds,
            args.first_seed,
            args.steps,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}
