//! `rota status`: one job's life, from the log, as the fold concluded it.

use crate::Target;
use crate::render;
use rota_events::{Body, Outcome, check_name};
use rota_projections::{CellState, Job, JobState, LogEntry, Verdict, apply_with_verdict};
use std::process::ExitCode;

/// Show a job's state and every event of its life.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Every event on the job's subjects is shown, and one that had no effect says why: a decision fenced (its lease epoch was not current), void (it no longer held when it landed) or refused (an input the fold or admission turned down). The state is the one every reader folds from the log.\n\nExample:\n  rota status 01JB7X3K9T6Q5W2N8R4M1V0C2D\n  rota status 01JB7X3K9T6Q5W2N8R4M1V0C2D --json"
)]
pub struct StatusArgs {
    pub job: String,
    /// Print the events as JSON lines; one with no effect has a `fold` field
    /// that says why.
    #[arg(long)]
    pub json: bool,
}

/// A job's entries with the fold's verdict on each, and its state after the
/// last that took effect.
struct Story {
    entries: Vec<(LogEntry, Verdict)>,
    state: Option<String>,
}

pub async fn status(target: &Target, args: StatusArgs) -> anyhow::Result<ExitCode> {
    check_name("job", &args.job)?;
    let log = target.connect().await?;
    let story = fold_story(log.read_all().await?, &target.cell, &args.job);
    if story.entries.is_empty() {
        eprintln!("no job {:?} in cell {}", args.job, target.cell);
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        for (entry, verdict) in &story.entries {
            println!("{}", render::json_noted(entry, verdict.note()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = story.state.as_deref().unwrap_or("unknown");
    println!("job {}: {state}", args.job);
    for (entry, verdict) in &story.entries {
        match verdict.note() {
            Some(note) => println!("  {}  [{note}]", render::line(entry)),
            None => println!("  {}", render::line(entry)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Folds the whole log, keeping the verdicts on `job`'s entries. An
/// admission's `input.rejected` about one of them turns its verdict into a
/// refusal: the fold queues a cancel request, and admission refuses it later.
fn fold_story(log: Vec<LogEntry>, cell: &str, job: &str) -> Story {
    let mut state = CellState::new(cell);
    let mut story = Story {
        entries: Vec::new(),
        state: None,
    };
    for entry in log {
        if !on_job_subject(&entry.subject, cell, job) {
            if let Ok(event) = &entry.event
                && let Body::InputRejected(rejected) = &event.body
                && let Some((_, verdict)) = story
                    .entries
                    .iter_mut()
                    .find(|(e, _)| e.seq == rejected.seq)
            {
                *verdict = Verdict::Refused(rejected.detail.clone());
            }
            state.apply(&entry);
            continue;
        }
        let verdict = apply_with_verdict(&mut state, &entry, job);
        if let Verdict::Applied(_) = verdict
            && let Some(now) = state.jobs.get(job)
        {
            story.state = Some(describe(now));
        }
        story.entries.push((entry, verdict));
    }
    // Later entries (a node lost, a retirement) change a job without being
    // on its subjects; the fold's state is the last word while it holds it.
    if let Some(now) = state.jobs.get(job) {
        story.state = Some(describe(now));
    }
    story
}

/// True for the subjects of `job`'s events: `rota.<cell>.job.<tenant>.<job>...`.
fn on_job_subject(subject: &str, cell: &str, job: &str) -> bool {
    let mut tokens = subject.split('.');
    tokens.next() == Some("rota")
        && tokens.next() == Some(cell)
        && tokens.next() == Some("job")
        && tokens.next().is_some()
        && tokens.next() == Some(job)
}

/// The job's state as the fold holds it.
fn describe(job: &Job) -> String {
    let node = job.node.as_deref().unwrap_or("?");
    match job.state {
        JobState::Submitted => "submitted, awaiting admission".to_string(),
        JobState::Pending => "pending: admitted, waiting for a node".to_string(),
        JobState::Bound => format!("bound to {node}"),
        JobState::Running => format!("running on {node}"),
        JobState::Cancelling if job.timed_out => {
            format!("stopping on {node}: wall-clock limit exceeded")
        }
        JobState::Cancelling => format!("cancelling on {node}"),
        JobState::Preempting => match &job.preempted {
            Some(p) => format!(
                "being preempted on {node} for job {} ({} rule, {} mode)",
                p.by,
                p.rule.as_str(),
                p.mode.as_str()
            ),
            None => format!("being preempted on {node}"),
        },
        JobState::Finished => match job.outcome {
            Some(Outcome::Succeeded) => "finished: succeeded".to_string(),
            Some(Outcome::Failed) => "finished: failed".to_string(),
            Some(Outcome::Killed) => "finished: killed".to_string(),
            Some(Outcome::Lost) => "finished: lost".to_string(),
            None => "finished".to_string(),
        },
        JobState::Rejected => "rejected".to_string(),
        JobState::Cancelled => "cancelled".to_string(),
    }
}
