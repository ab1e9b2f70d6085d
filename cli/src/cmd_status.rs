//! `rota status`: one job's life, from the log.

use crate::Target;
use crate::render;
use rota_events::{Body, check_name};
use rota_shell::CellLog;
use std::process::ExitCode;

/// Show a job's state and every event of its life.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  rota status 01JB7X3K9T6Q5W2N8R4M1V0C2D\n  rota status 01JB7X3K9T6Q5W2N8R4M1V0C2D --json"
)]
pub struct StatusArgs {
    pub job: String,
    /// Print the events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

pub async fn status(target: &Target, args: StatusArgs) -> anyhow::Result<ExitCode> {
    check_name("job", &args.job)?;
    let log = CellLog::connect(target.url(), &target.cell).await?;
    let entries = log
        .read_matching(&format!("rota.{}.job.*.{}.>", target.cell, args.job))
        .await?;
    if entries.is_empty() {
        eprintln!("no job {:?} in cell {}", args.job, target.cell);
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        for entry in &entries {
            println!("{}", render::json(entry));
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("job {}: {}", args.job, state_of(&entries));
    for entry in &entries {
        println!("  {}", render::line(entry));
    }
    Ok(ExitCode::SUCCESS)
}

/// The job's state as its own events tell it (the authoritative fold is the
/// services'; this reads only the job's subjects).
fn state_of(entries: &[rota_projections::LogEntry]) -> &'static str {
    let mut state = "unknown";
    for event in entries.iter().filter_map(|e| e.event.as_ref().ok()) {
        state = match &event.body {
            Body::JobSubmitted(_) => "submitted, awaiting admission",
            Body::JobAdmitted(_) => "pending: admitted, waiting for a node",
            Body::JobRejected(_) => "rejected",
            Body::JobBound(_) => "bound to a node",
            Body::JobStarted(_) => "running",
            Body::JobFinished(f) => match f.outcome {
                rota_events::Outcome::Succeeded => "finished: succeeded",
                rota_events::Outcome::Failed => "finished: failed",
                rota_events::Outcome::Killed => "finished: killed",
                rota_events::Outcome::Lost => "finished: lost",
            },
            Body::JobTimedOut(_) => "stopping: wall-clock limit exceeded",
            Body::JobCancelled(c) if c.node.is_some() => "cancelling",
            Body::JobCancelled(_) => "cancelled",
            _ => state,
        };
    }
    state
}
