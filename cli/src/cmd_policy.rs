//! `rota policy`: the cell's placement policy, set as an event in the log.

use crate::Target;
use anyhow::Context;
use rota_events::{
    Backfill, Body, ENDED_JOB_AGE_S_DEFAULT, ENDED_JOBS_MAX_DEFAULT, Event,
    PENDING_JOBS_MAX_DEFAULT, PENDING_JOBS_PER_TENANT_MAX_DEFAULT, PlacementPolicy, PolicySet,
    QueueWeights, Retention, Strategy, Weights,
};
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Set the placement policy; placement (live, in replay and in the
    /// simulator) uses it from this point of the log on.
    #[command(after_help = "Examples:
  rota policy set --backfill conservative --default-estimate-s 7200
  rota policy set --priority-class high=900 --priority-class batch=100 --default-priority-class batch
  rota policy set --pending-jobs-max 20000 --pending-jobs-per-tenant-max 5000
  rota policy set --ended-job-age-s 3600 --ended-jobs-max 50000
  rota policy set --file placement-policy.yaml

A policy file (YAML or JSON) has the fields of policy.set's `placement`
(docs/events.md), each optional:
  backfill: easy
  default_estimate_s: 3600
  strategy: weighted
  weights: {resource_fit: 30, affinity: 20, load_balance: 20, data_locality: 20, cost: 10}
  queue: {priority: 1000, class: 1000, age: 100, fair_share: 1000, age_max_s: 604800}
  priority_classes: {high: 900, batch: 100}
  default_priority_class: batch
  pending_jobs_max: 100000
  pending_jobs_per_tenant_max: 25000
  retention: {ended_job_age_s: 300, ended_jobs_max: 10000}
  preemption:
    classes:
      high: {preempts: lower_priority, preemptible: false}
      batch: {mode: checkpoint, grace_s: 60, min_run_s: 120, max_preemptions: 3}
    reclaim: true
    fair_share: {threshold_milli: 300}
    round_preemptions_max: 64
    min_interval_s: 300
    nomination_s: 300")]
    Set(PolicyArgs),
}

#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    /// Read the whole policy from this YAML or JSON file instead of the flags.
    #[arg(long, conflicts_with_all = ["backfill", "default_estimate_s", "strategy", "weights", "queue_weights", "age_max_s", "priority_class", "default_priority_class", "pending_jobs_max", "pending_jobs_per_tenant_max", "ended_job_age_s", "ended_jobs_max"])]
    file: Option<std::path::PathBuf>,
    /// fcfs (no backfill), easy or conservative.
    #[arg(long, default_value = "easy", value_parser = ["fcfs", "easy", "conservative"])]
    backfill: String,
    /// The runtime estimate of jobs that declare neither walltime_s nor duration_ms.
    #[arg(long, default_value_t = 3600)]
    default_estimate_s: u64,
    /// How to choose among nodes a job fits on: binpack, spread or weighted.
    #[arg(long, default_value = "weighted", value_parser = ["binpack", "spread", "weighted"])]
    strategy: String,
    /// Weights of the weighted strategy's scorers, each 0 to 100:
    /// resource fit, affinity, load balance, data locality, cost.
    #[arg(long, value_delimiter = ',', num_args = 5, default_values_t = [30u32, 20, 20, 20, 10])]
    weights: Vec<u32>,
    /// Weights of the queue's multifactor priority, each 0 to 1000:
    /// job priority, priority class, age, fair share.
    #[arg(long, value_delimiter = ',', num_args = 4, default_values_t = [1000u32, 1000, 100, 1000])]
    queue_weights: Vec<u32>,
    /// The wait, in seconds, at which the age factor is full.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    age_max_s: u64,
    /// A priority class as NAME=VALUE (value 0 to 1000); repeat for more.
    #[arg(long)]
    priority_class: Vec<String>,
    /// The class of jobs that name none.
    #[arg(long)]
    default_priority_class: Option<String>,
    /// Most jobs that may wait for placement in the cell (1 to 1000000);
    /// past it admission rejects submissions, asking clients to retry later.
    #[arg(long, default_value_t = PENDING_JOBS_MAX_DEFAULT)]
    pending_jobs_max: u64,
    /// Most jobs of any one tenant that may wait for placement (1 to
    /// 1000000); past it that tenant's submissions are rejected, asking it
    /// to retry later, while other tenants' are still admitted.
    #[arg(long, default_value_t = PENDING_JOBS_PER_TENANT_MAX_DEFAULT)]
    pending_jobs_per_tenant_max: u64,
    /// How long an ended job stays in the services' state, in seconds of log
    /// time (0 to 315360000); its events stay in the log.
    #[arg(long, default_value_t = ENDED_JOB_AGE_S_DEFAULT)]
    ended_job_age_s: u64,
    /// Most ended jobs the services' state keeps (0 to 10000000); past it the
    /// earliest ended leave first.
    #[arg(long, default_value_t = ENDED_JOBS_MAX_DEFAULT)]
    ended_jobs_max: u64,
}

pub async fn policy(target: &Target, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Set(args) = command;
    let placement = match &args.file {
        Some(path) => read_policy_file(path)?,
        None => from_flags(args)?,
    };
    placement
        .validate()
        .map_err(|problem| anyhow::anyhow!("invalid policy: {problem}"))?;
    publish(target, placement).await
}

fn from_flags(args: PolicyArgs) -> anyhow::Result<PlacementPolicy> {
    let backfill = match args.backfill.as_str() {
        "fcfs" => Backfill::Fcfs,
        "conservative" => Backfill::Conservative,
        _ => Backfill::Easy,
    };
    let strategy = match args.strategy.as_str() {
        "binpack" => Strategy::Binpack,
        "spread" => Strategy::Spread,
        _ => Strategy::Weighted,
    };
    let mut priority_classes = BTreeMap::new();
    for class in &args.priority_class {
        let (name, value) = class.split_once('=').with_context(|| {
            format!("--priority-class {class:?} is not NAME=VALUE (for example high=900)")
        })?;
        let value: u32 = value.parse().with_context(|| {
            format!("--priority-class {class:?}: the value must be a whole number 0 to 1000")
        })?;
        priority_classes.insert(name.to_string(), value);
    }
    let (w, q) = (&args.weights, &args.queue_weights);
    Ok(PlacementPolicy {
        backfill,
        default_estimate_s: args.default_estimate_s,
        strategy,
        weights: Weights {
            resource_fit: w[0],
            affinity: w[1],
            load_balance: w[2],
            data_locality: w[3],
            cost: w[4],
        },
        queue: QueueWeights {
            priority: q[0],
            class: q[1],
            age: q[2],
            fair_share: q[3],
            age_max_s: args.age_max_s,
        },
        priority_classes,
        default_priority_class: args.default_priority_class,
        pending_jobs_max: args.pending_jobs_max,
        pending_jobs_per_tenant_max: args.pending_jobs_per_tenant_max,
        retention: Retention {
            ended_job_age_s: args.ended_job_age_s,
            ended_jobs_max: args.ended_jobs_max,
        },
        // Preemption is set in a policy file only: its classes are a
        // mapping, which flags would spell badly.
        preemption: Default::default(),
    })
}

/// Reads a policy file: YAML or JSON with the fields of `PlacementPolicy`.
fn read_policy_file(path: &std::path::Path) -> anyhow::Result<PlacementPolicy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    crate::document::parse_strict(&text)
        .map_err(|e| anyhow::anyhow!("invalid policy in {}: {e}", path.display()))
}

/// Logs the policy as a `policy.set` event.
async fn publish(target: &Target, placement: PlacementPolicy) -> anyhow::Result<ExitCode> {
    let log = target.connect().await?;
    let summary = format!(
        "backfill {}, default estimate {} s, strategy {}, weights {:?}, queue {:?}, classes [{}], at most {} jobs waiting, ended jobs kept {} s (at most {})",
        placement.backfill.as_str(),
        placement.default_estimate_s,
        placement.strategy.as_str(),
        placement.weights,
        placement.queue,
        placement.class_names(),
        placement.pending_jobs_max,
        placement.retention.ended_job_age_s,
        placement.retention.ended_jobs_max
    );
    let event = Event::new(
        ulid::Ulid::new().to_string(),
        &target.cell,
        Body::PolicySet(PolicySet { placement }),
    );
    let seq = log.publish(&event).await?;
    println!("placement policy set at sequence {seq}: {summary}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: PolicyArgs,
    }

    fn from_command_line(line: &[&str]) -> PlacementPolicy {
        let command =
            Command::try_parse_from(std::iter::once("policy").chain(line.iter().copied()))
                .expect("the flags parse");
        from_flags(command.args).expect("the flags make a policy")
    }

    #[test]
    fn pending_jobs_max_comes_from_its_flag_or_the_default() {
        assert_eq!(
            from_command_line(&["--pending-jobs-max", "50"]).pending_jobs_max,
            50
        );
        assert_eq!(from_command_line(&[]), PlacementPolicy::default());
    }

    #[test]
    fn a_policy_file_may_set_pending_jobs_max() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "backfill: fcfs\npending_jobs_max: 20000\n").unwrap();
        let policy = read_policy_file(file.path()).unwrap();
        assert_eq!(policy.pending_jobs_max, 20_000);
        assert_eq!(policy.backfill, Backfill::Fcfs);
    }

    #[test]
    fn a_pending_jobs_max_out_of_range_is_refused_before_it_is_published() {
        let policy = from_command_line(&["--pending-jobs-max", "0"]);
        assert_eq!(
            policy.validate().unwrap_err(),
            "pending_jobs_max is 0; it must be 1 to 1000000 jobs"
        );
    }
}
