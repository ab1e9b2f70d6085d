//! `rota replay`: re-derive every recorded decision from the log.

use crate::Target;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum ReplayCommand {
    /// Re-derive every recorded round from the log and compare; exits 1 and
    /// names the event, service and field on any difference.
    #[command(
        after_help = "Example:\n  rota replay verify --nats nats://127.0.0.1:4222 --cell default"
    )]
    Verify,
}

pub async fn replay(target: &Target, command: ReplayCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReplayCommand::Verify => verify(target).await,
    }
}

async fn verify(target: &Target) -> anyhow::Result<ExitCode> {
    let log = target.connect().await?;
    let entries = log.read_all().await?;
    let cell = target.cell.clone();
    let report = rota_replay::verify(&entries, &|service| {
        rota_replay::standard_core(&cell, service)
    });
    print_report(&report);
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints a verification report as a person reads it.
pub fn print_report(report: &rota_replay::Report) {
    for service in &report.unknown_services {
        println!(
            "replay verify: no core for service {service:?} in this build; its rounds were not checked"
        );
    }
    for mismatch in report.mismatches.iter().take(20) {
        println!("MISMATCH {mismatch}");
    }
    if report.mismatches.len() > 20 {
        println!("... and {} more mismatches", report.mismatches.len() - 20);
    }
    let verdict = if report.is_clean() {
        "clean"
    } else {
        "NOT CLEAN"
    };
    println!(
        "replay verify: {verdict}: {} events, {} rounds and {} decisions re-derived, {} mismatches",
        report.entries,
        report.rounds,
        report.decisions,
        report.mismatches.len()
    );
}
