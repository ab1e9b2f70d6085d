//! `rota watch`: follow the log live.

use crate::Target;
use crate::render;
use rota_events::check_name;
use rota_shell::Shutdown;
use std::process::ExitCode;

/// Follow events live, optionally only one tenant's, one job's or one node's.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota watch\n  rota watch --tenant acme\n  rota watch --job 01JB7X3K9T6Q5W2N8R4M1V0C2D --from-start\n  rota watch --node gpu-07 --json"
)]
pub struct WatchArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub job: Option<String>,
    #[arg(long, conflicts_with_all = ["tenant", "job"])]
    pub node: Option<String>,
    /// Start from the beginning of the log instead of now.
    #[arg(long)]
    pub from_start: bool,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
}

/// The subject filters for the requested view.
fn filters(cell: &str, args: &WatchArgs) -> anyhow::Result<Vec<String>> {
    for (what, value) in [
        ("tenant", &args.tenant),
        ("job", &args.job),
        ("node", &args.node),
    ] {
        if let Some(value) = value {
            check_name(what, value)?;
        }
    }
    Ok(match (&args.tenant, &args.job, &args.node) {
        (_, _, Some(node)) => vec![
            format!("rota.{cell}.job.*.*.*.{node}"),
            format!("rota.{cell}.node.{node}.>"),
        ],
        (Some(tenant), Some(job), _) => vec![format!("rota.{cell}.job.{tenant}.{job}.>")],
        (None, Some(job), _) => vec![format!("rota.{cell}.job.*.{job}.>")],
        (Some(tenant), None, _) => vec![
            format!("rota.{cell}.job.{tenant}.>"),
            format!("rota.{cell}.input.rejected.{tenant}"),
        ],
        (None, None, None) => Vec::new(),
    })
}

pub async fn watch(target: &Target, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let filters = filters(&target.cell, &args)?;
    let log = target.connect().await?;
    let mut entries = match args.from_start {
        true => log.entries(1, filters).await?,
        false => log.entries_from_now(filters).await?,
    };
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let mut printed = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            item = entries.next() => {
                let Some(item) = item else { break };
                let (entry, _) = item?;
                if args.json {
                    println!("{}", render::json(&entry));
                } else {
                    println!("{}", render::line(&entry));
                }
                printed += 1;
                if args.count.is_some_and(|count| printed >= count) {
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
