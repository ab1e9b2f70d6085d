//! `rota policy`: the cell's placement policy, set as an event in the log.

use crate::Target;
use rota_events::{
    Backfill, Body, Event, PlacementPolicy, PolicySet, QueueWeights, Strategy, Weights,
};
use rota_shell::CellLog;
use std::process::ExitCode;

/// Longest default runtime estimate accepted, in seconds (30 days).
pub const DEFAULT_ESTIMATE_S_MAX: u64 = 30 * 24 * 3600;

/// Largest scorer weight.
pub const WEIGHT_MAX: u32 = 100;

/// Largest weight of a queue priority factor.
pub const QUEUE_WEIGHT_MAX: u32 = 1000;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Set the placement policy; placement (live, in replay and in the
    /// simulator) uses it from this point of the log on.
    #[command(
        after_help = "Examples:\n  rota policy set --backfill conservative --default-estimate-s 7200\n  rota policy set --file placement-policy.yaml\n\nA policy file (YAML or JSON) has the fields of policy.set's `placement`\n(docs/events.md), each optional:\n  backfill: easy\n  default_estimate_s: 3600\n  strategy: weighted\n  weights: {resource_fit: 30, affinity: 20, load_balance: 20, data_locality: 20, cost: 10}"
    )]
    Set {
        /// Read the whole policy from this YAML or JSON file instead of the flags.
        #[arg(long, conflicts_with_all = ["backfill", "default_estimate_s", "strategy", "weights", "queue_weights", "age_max_s"])]
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
        /// job priority, age, fair share.
        #[arg(long, value_delimiter = ',', num_args = 3, default_values_t = [1000u32, 100, 0])]
        queue_weights: Vec<u32>,
        /// The wait, in seconds, at which the age factor is full.
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        age_max_s: u64,
    },
}

pub async fn policy(target: &Target, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Set {
        file,
        backfill,
        default_estimate_s,
        strategy,
        weights,
        queue_weights,
        age_max_s,
    } = command;
    if let Some(weight) = queue_weights.iter().find(|w| **w > QUEUE_WEIGHT_MAX) {
        anyhow::bail!("--queue-weights has {weight}; each weight must be 0 to {QUEUE_WEIGHT_MAX}");
    }
    if !(1..=DEFAULT_ESTIMATE_S_MAX).contains(&age_max_s) {
        anyhow::bail!("--age-max-s is {age_max_s}; it must be 1 to {DEFAULT_ESTIMATE_S_MAX}");
    }
    if let Some(path) = file {
        let placement = read_policy_file(&path)?;
        return publish(target, placement).await;
    }
    if let Some(weight) = weights.iter().find(|w| **w > WEIGHT_MAX) {
        anyhow::bail!("--weights has {weight}; each weight must be 0 to {WEIGHT_MAX}");
    }
    if !(1..=DEFAULT_ESTIMATE_S_MAX).contains(&default_estimate_s) {
        anyhow::bail!(
            "--default-estimate-s is {default_estimate_s}; it must be 1 to {DEFAULT_ESTIMATE_S_MAX}"
        );
    }
    let backfill = match backfill.as_str() {
        "fcfs" => Backfill::Fcfs,
        "conservative" => Backfill::Conservative,
        _ => Backfill::Easy,
    };
    let strategy = match strategy.as_str() {
        "binpack" => Strategy::Binpack,
        "spread" => Strategy::Spread,
        _ => Strategy::Weighted,
    };
    let placement = PlacementPolicy {
        backfill,
        default_estimate_s,
        strategy,
        weights: Weights {
            resource_fit: weights[0],
            affinity: weights[1],
            load_balance: weights[2],
            data_locality: weights[3],
            cost: weights[4],
        },
        queue: QueueWeights {
            priority: queue_weights[0],
            age: queue_weights[1],
            fair_share: queue_weights[2],
            age_max_s,
        },
    };
    publish(target, placement).await
}

/// Reads a policy file: YAML or JSON with the fields of `PlacementPolicy`.
fn read_policy_file(path: &std::path::Path) -> anyhow::Result<PlacementPolicy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let placement: PlacementPolicy = serde_yaml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid policy in {}: {e}", path.display()))?;
    if !(1..=DEFAULT_ESTIMATE_S_MAX).contains(&placement.default_estimate_s) {
        anyhow::bail!(
            "default_estimate_s is {}; it must be 1 to {DEFAULT_ESTIMATE_S_MAX}",
            placement.default_estimate_s
        );
    }
    let w = placement.weights;
    if let Some(weight) = [
        w.resource_fit,
        w.affinity,
        w.load_balance,
        w.data_locality,
        w.cost,
    ]
    .into_iter()
    .find(|w| *w > WEIGHT_MAX)
    {
        anyhow::bail!("a weight is {weight}; each weight must be 0 to {WEIGHT_MAX}");
    }
    Ok(placement)
}

/// Logs the policy as a `policy.set` event.
async fn publish(target: &Target, placement: PlacementPolicy) -> anyhow::Result<ExitCode> {
    let log = CellLog::connect(target.url(), &target.cell).await?;
    let event = Event::new(
        ulid::Ulid::new().to_string(),
        &target.cell,
        Body::PolicySet(PolicySet { placement }),
    );
    let seq = log.publish(&event).await?;
    println!(
        "placement policy set at sequence {seq}: backfill {}, default estimate {} s, strategy {}, weights {:?}",
        placement.backfill.as_str(),
        placement.default_estimate_s,
        placement.strategy.as_str(),
        placement.weights
    );
    Ok(ExitCode::SUCCESS)
}
