//! One line per event, for people watching the log.

use rota_events::{Body, Event};
use rota_projections::LogEntry;

/// `HH:MM:SS.mmm` in UTC from a Unix time in milliseconds.
pub fn clock_time(time_ms: u64) -> String {
    let ms = time_ms % 1000;
    let s = time_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// A human-readable line for a log entry.
pub fn line(entry: &LogEntry) -> String {
    let head = format!("{} #{:<7}", clock_time(entry.time_ms), entry.seq);
    match &entry.event {
        Err(error) => format!("{head} {:<20} {} ({})", "unreadable", entry.subject, error),
        Ok(event) => format!("{head} {:<20} {}", event.body.type_name(), details(event)),
    }
}

fn details(event: &Event) -> String {
    let who = match (&event.tenant, event.body.job()) {
        (Some(tenant), Some(job)) => format!("{tenant}/{job}"),
        _ => String::new(),
    };
    let what = match &event.body {
        Body::JobSubmitted(b) => format!(
            "cpu_milli={} memory_bytes={} gpus={}{}",
            b.resources.cpu_milli,
            b.resources.memory_bytes,
            b.resources.gpus,
            b.name
                .as_ref()
                .map(|n| format!(" name={n:?}"))
                .unwrap_or_default()
        ),
        Body::JobCancelRequested(b) => b.reason.clone().unwrap_or_default(),
        Body::JobAdmitted(_) => String::new(),
        Body::JobRejected(b) => b.reason.clone(),
        Body::JobBound(b) => format!(
            "node={}{}",
            b.node,
            if b.reclaimable { " reclaimable" } else { "" }
        ),
        Body::JobStarted(b) => format!(
            "node={}{}",
            b.node,
            b.pid.map(|p| format!(" pid={p}")).unwrap_or_default()
        ),
        Body::JobFinished(b) => format!(
            "node={} outcome={:?}{}{}",
            b.node,
            b.outcome,
            b.exit_code
                .map(|c| format!(" exit_code={c}"))
                .unwrap_or_default(),
            b.message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        Body::JobCancelled(b) => format!(
            "{}{}",
            b.reason,
            b.node
                .as_ref()
                .map(|n| format!(" node={n}"))
                .unwrap_or_default()
        ),
        Body::NodeRegistered(b) => format!(
            "node={} cpu_milli={} memory_bytes={} gpus={}",
            b.node, b.capacity.cpu_milli, b.capacity.memory_bytes, b.capacity.gpus
        ),
        Body::NodeDrained(b) => format!("node={} {}", b.node, b.reason),
        Body::NodeLost(b) => format!("node={} {}", b.node, b.reason),
        Body::LeaseClaimed(b) => format!(
            "service={} epoch={} holder={}",
            b.service, b.epoch, b.holder
        ),
        Body::ClockTick(b) => format!("after_seq={}", b.after_seq),
        Body::InputRejected(b) => format!("{} seq={} {}: {}", b.kind, b.seq, b.subject, b.detail),
        Body::JobTimedOut(b) => format!("node={} walltime_s={}", b.node, b.walltime_s),
        Body::JobPreempted(b) => format!(
            "node={} for={} rule={} mode={} grace_s={} lost_ms={}",
            b.node,
            b.preemptor,
            b.rule.as_str(),
            b.mode.as_str(),
            b.grace_s,
            b.lost_ms
        ),
        Body::JobNominated(b) => format!(
            "node={} victims={} until_ms={}",
            b.node,
            b.victims.join(","),
            b.until_ms
        ),
        Body::NominationLapsed(b) => format!("node={} {}", b.node, b.reason),
        Body::PolicySet(b) => format!(
            "backfill={} default_estimate_s={}",
            b.placement.backfill.as_str(),
            b.placement.default_estimate_s
        ),
        Body::TenantsSet(b) => format!(
            "fair_share={} half_life_s={} top-level tenants={}",
            b.config.fair_share.mode.as_str(),
            b.config.fair_share.half_life_s,
            b.config.tenants.len()
        ),
        Body::FairShareUpdated(b) => format!("factors for {} tenants", b.factors.len()),
        Body::RosterSet(b) => format!("version={} keys={}", b.version, b.members.len()),
    };
    let round = event
        .round
        .as_ref()
        .map(|r| {
            format!(
                " [{} epoch {} basis {} {}/{}]",
                r.service,
                r.epoch,
                r.basis,
                r.index + 1,
                r.size
            )
        })
        .unwrap_or_default();
    [who, what]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
        + &round
}

/// The entry as one JSON object: sequence, time, subject, and the event (or
/// the error).
pub fn json(entry: &LogEntry) -> String {
    json_noted(entry, None)
}

/// An entry as one JSON line, with the fold's note on it (`fold`) when it
/// had no effect.
pub fn json_noted(entry: &LogEntry, note: Option<String>) -> String {
    let event = match &entry.event {
        Ok(event) => serde_json::from_slice::<serde_json::Value>(&rota_events::encode_as(
            event,
            rota_events::Encoding::Json,
        ))
        .unwrap_or(serde_json::Value::Null),
        Err(error) => serde_json::json!({ "error": error.to_string() }),
    };
    let mut line = serde_json::json!({
        "seq": entry.seq,
        "time_ms": entry.time_ms,
        "subject": entry.subject,
        "event": event,
    });
    if let Some(note) = note {
        line["fold"] = serde_json::Value::String(note);
    }
    line.to_string()
}
