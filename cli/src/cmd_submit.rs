//! `rota submit` and `rota cancel`: a client's two requests.

use crate::Target;
use anyhow::{Context, bail};
use rota_events::{
    Body, Constraints, Event, JobCancelRequested, JobSubmitted, Resources, check_name,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

/// Most jobs one `rota submit` sends.
pub const SUBMIT_JOBS_MAX: usize = 100_000;

/// Submit jobs from a JSON or YAML spec; prints each job's id.
///
/// The spec is one job or a list of jobs. Fields: tenant, id (optional; a new
/// ULID if absent), name, command (list of strings), resources {cpu_milli,
/// memory_bytes, gpus, gpu_milli}, duration_ms, walltime_s, priority,
/// priority_class, labels, constraints {node_selector, tolerations, affinity,
/// job_affinity, topology_spread, gpu_model, extended, data_zone} (see
/// docs/events.md).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  cat > job.yaml <<'END'\n  tenant: acme\n  name: hello\n  command: [echo, hello]\n  resources: {cpu_milli: 500, memory_bytes: 268435456}\n  END\n  rota submit job.yaml\n  echo '{\"resources\":{\"cpu_milli\":1000,\"memory_bytes\":1000000}}' | rota submit - --tenant acme"
)]
pub struct SubmitArgs {
    /// The spec file, or - for standard input.
    pub file: String,
    /// The tenant, for specs that do not name one.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Cancel a job of your tenant.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  rota cancel 01JB7X3K9T6Q5W2N8R4M1V0C2D --tenant acme --reason 'wrong input'"
)]
pub struct CancelArgs {
    pub job: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    tenant: Option<String>,
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    command: Vec<String>,
    resources: Resources,
    duration_ms: Option<u64>,
    walltime_s: Option<u64>,
    #[serde(default)]
    priority: i32,
    priority_class: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    constraints: Constraints,
    checkpoint: Option<rota_events::Checkpoint>,
}

pub async fn submit(target: &Target, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let text = if args.file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file))?
    };
    let specs = parse_specs(&text).with_context(|| format!("invalid job spec in {}", args.file))?;
    if specs.len() > SUBMIT_JOBS_MAX {
        bail!(
            "{} jobs in one submission; at most {SUBMIT_JOBS_MAX}",
            specs.len()
        );
    }
    let events = specs
        .into_iter()
        .map(|spec| to_event(&target.cell, args.tenant.as_deref(), spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let log = target.connect().await?;
    let mut pipeline = log.pipeline();
    for event in &events {
        pipeline.push(event).await?;
    }
    pipeline.flush().await?;
    for event in &events {
        println!("{}", event.body.job().expect("submissions name a job"));
    }
    Ok(ExitCode::SUCCESS)
}

/// One spec or a list of them (see [`crate::document::parse`]). Errors name
/// the job's place in a list.
fn parse_specs(text: &str) -> anyhow::Result<Vec<Spec>> {
    match crate::document::parse(text)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                crate::document::from_value_strict(item)
                    .with_context(|| format!("job {} of the list", index + 1))
            })
            .collect(),
        document @ serde_json::Value::Object(_) => {
            Ok(vec![crate::document::from_value_strict(document)?])
        }
        _ => bail!("expected a job (a mapping) or a list of jobs"),
    }
}

fn to_event(cell: &str, default_tenant: Option<&str>, spec: Spec) -> anyhow::Result<Event> {
    let Some(tenant) = spec.tenant.as_deref().or(default_tenant) else {
        bail!("the spec names no tenant: add `tenant:` to it or pass --tenant");
    };
    check_name("tenant", tenant)?;
    let id = spec
        .id
        .clone()
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    check_name("id", &id)?;
    let body = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: id.clone(),
        name: spec.name,
        command: spec.command,
        resources: spec.resources,
        duration_ms: spec.duration_ms,
        walltime_s: spec.walltime_s,
        priority: spec.priority,
        priority_class: spec.priority_class,
        labels: spec.labels,
        constraints: spec.constraints,
        checkpoint: spec.checkpoint,
    }));
    let mut event = Event::new(id.clone(), cell, body).with_tenant(tenant);
    event.correlation_id = Some(id.clone());
    event.traceparent = Some(rota_events::traceparent_for(None, &id, &id));
    Ok(event)
}

pub async fn cancel(target: &Target, args: CancelArgs) -> anyhow::Result<ExitCode> {
    check_name("tenant", &args.tenant)?;
    check_name("job", &args.job)?;
    let log = target.connect().await?;
    let id = ulid::Ulid::new().to_string();
    let body = Body::JobCancelRequested(JobCancelRequested {
        job: args.job.clone(),
        reason: args.reason,
    });
    let mut event = Event::new(id, &target.cell, body).with_tenant(&args.tenant);
    event.correlation_id = Some(args.job.clone());
    let seq = log.publish(&event).await?;
    println!(
        "cancel requested for {} (sequence {seq}); follow with: rota status {}",
        args.job, args.job
    );
    Ok(ExitCode::SUCCESS)
}
