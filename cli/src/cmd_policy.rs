//! `rota policy`: the cell's placement policy, set as an event in the log.

use crate::Target;
use rota_events::{Backfill, Body, Event, PlacementPolicy, PolicySet};
use rota_shell::CellLog;
use std::process::ExitCode;

/// Longest default runtime estimate accepted, in seconds (30 days).
pub const DEFAULT_ESTIMATE_S_MAX: u64 = 30 * 24 * 3600;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Set the placement policy; placement (live, in replay and in the
    /// simulator) uses it from this point of the log on.
    #[command(
        after_help = "Example:\n  rota policy set --backfill conservative --default-estimate-s 7200"
    )]
    Set {
        /// fcfs (no backfill), easy or conservative.
        #[arg(long, default_value = "easy", value_parser = ["fcfs", "easy", "conservative"])]
        backfill: String,
        /// The runtime estimate of jobs that declare neither walltime_s nor duration_ms.
        #[arg(long, default_value_t = 3600)]
        default_estimate_s: u64,
    },
}

pub async fn policy(target: &Target, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Set {
        backfill,
        default_estimate_s,
    } = command;
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
    let placement = PlacementPolicy {
        backfill,
        default_estimate_s,
    };
    let log = CellLog::connect(target.url(), &target.cell).await?;
    let event = Event::new(
        ulid::Ulid::new().to_string(),
        &target.cell,
        Body::PolicySet(PolicySet { placement }),
    );
    let seq = log.publish(&event).await?;
    println!(
        "placement policy set at sequence {seq}: backfill {}, default estimate {default_estimate_s} s",
        backfill.as_str()
    );
    Ok(ExitCode::SUCCESS)
}
