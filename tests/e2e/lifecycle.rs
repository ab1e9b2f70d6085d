//! A job's whole life over real JetStream, with every part a real process:
//! `rota run all`, `rota agent` running real programs, `rota submit`,
//! `rota cancel`, `rota status` and `rota replay verify`.

use rota_events::Outcome;
use rota_projections::JobState;
use rota_shell::access::Identity;
use rota_testkit::TestBed;
use std::io::Write;
use std::process::Stdio;

const ROTA: &str = env!("CARGO_BIN_EXE_rota");

/// How long `rota watch` may take to open its reader on the stream.
const READER_OPENS_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `rota <args>` against the bed's server as `identity`.
fn rota(bed: &TestBed, identity: Identity, args: &[&str]) -> std::process::Output {
    bed.rota(ROTA, &identity, args)
}

fn tenant(name: &str) -> Identity {
    Identity::Tenant(name.to_string())
}

/// Submits a JSON spec of tenant acme's through `rota submit -` and
/// returns the job id.
fn submit(bed: &TestBed, spec: &str) -> String {
    let output = try_submit(bed, spec);
    assert!(
        output.status.success(),
        "submit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Runs `rota submit -` as tenant acme on a JSON spec and returns what it
/// did.
fn try_submit(bed: &TestBed, spec: &str) -> std::process::Output {
    let mut child = bed
        .command(ROTA, &tenant("acme"), &["submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rota submit runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// How many readers the cell's stream has open.
async fn readers(bed: &TestBed) -> usize {
    bed.log
        .js
        .get_stream(rota_events::stream_name(rota_testkit::CELL))
        .await
        .expect("the stream's info")
        .cached_info()
        .state
        .consumer_count
}

fn spec(command: &str) -> String {
    format!(
        r#"{{"tenant": "acme", "command": ["sh", "-c", "{command}"],
            "resources": {{"cpu_milli": 500, "memory_bytes": 268435456}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_as_a_real_process_and_is_reported_and_replayable() {
    let bed = TestBed::start().await;
    let _services = bed.spawn(ROTA, &Identity::Services, &["run", "all"]);
    let _agent = bed.spawn(
        ROTA,
        &Identity::Agent("worker-1".to_string()),
        &[
            "agent",
            "--node",
            "worker-1",
            "--cpu-milli",
            "4000",
            "--memory-bytes",
            "4294967296",
        ],
    );

    // A job that fails with exit status 3.
    let failing = submit(&bed, &spec("echo hello; exit 3"));
    let state = bed
        .wait_for("the failing job to finish", |s| {
            s.jobs
                .get(&failing)
                .is_some_and(|j| j.state == JobState::Finished)
        })
        .await;
    let job = &state.jobs[&failing];
    assert_eq!(job.outcome, Some(Outcome::Failed));
    assert_eq!(job.exit_code, Some(3));
    assert_eq!(job.bindings, 1);

    // A job that succeeds.
    let succeeding = submit(&bed, &spec("exit 0"));
    let state = bed
        .wait_for("the succeeding job to finish", |s| {
            s.jobs
                .get(&succeeding)
                .is_some_and(|j| j.state == JobState::Finished)
        })
        .await;
    assert_eq!(state.jobs[&succeeding].outcome, Some(Outcome::Succeeded));
    assert_eq!(state.nodes["worker-1"].allocated, Default::default());

    // A long job, cancelled while it runs: the agent kills the process.
    let sleeper = submit(&bed, &spec("sleep 60"));
    bed.wait_for("the long job to start", |s| {
        s.jobs
            .get(&sleeper)
            .is_some_and(|j| j.state == JobState::Running)
    })
    .await;
    // Its tenant follows it from now on with `rota watch`, which may not ask
    // the stream where its head is: it reads only what comes after.
    let readers_before = readers(&bed).await;
    let watcher = bed
        .command(
            ROTA,
            &tenant("acme"),
            &["watch", "--tenant", "acme", "--job", &sleeper],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rota watch runs");
    let opened_by = std::time::Instant::now() + READER_OPENS_WITHIN;
    while readers(&bed).await <= readers_before {
        assert!(
            std::time::Instant::now() < opened_by,
            "rota watch opened no reader within {READER_OPENS_WITHIN:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancelled = rota(
        &bed,
        tenant("acme"),
        &["cancel", &sleeper, "--tenant", "acme", "--reason", "test"],
    );
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );
    let state = bed
        .wait_for("the long job to be killed", |s| {
            s.jobs
                .get(&sleeper)
                .is_some_and(|j| j.state == JobState::Cancelled)
        })
        .await;
    assert_eq!(state.jobs[&sleeper].outcome, Some(Outcome::Killed));
    assert_eq!(state.nodes["worker-1"].allocated, Default::default());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &watcher.id().to_string()])
        .status();
    let watched = watcher.wait_with_output().unwrap();
    let watched_text = String::from_utf8_lossy(&watched.stdout);
    assert!(
        watched.status.success(),
        "{watched_text}{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    for event in ["job.cancel_requested", "job.cancelled", "job.finished"] {
        assert!(watched_text.contains(event), "no {event} in {watched_text}");
    }
    assert!(
        !watched_text.contains("job.submitted"),
        "rota watch read from before it started: {watched_text}"
    );

    // Another tenant cannot cancel acme's job.
    let intruder = submit(&bed, &spec("sleep 60"));
    let refused = rota(
        &bed,
        tenant("mallory"),
        &["cancel", &intruder, "--tenant", "mallory"],
    );
    assert!(refused.status.success());
    let state = bed
        .wait_for("the foreign cancel to be refused", |s| {
            s.cancel_requests.is_empty()
                && s.jobs
                    .get(&intruder)
                    .is_some_and(|j| j.state == JobState::Running)
        })
        .await;
    assert_eq!(state.jobs[&intruder].state, JobState::Running);

    // A job past its wall-clock limit is stopped, and the log says why.
    let policy_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policy_file.path(),
        "backfill: conservative\nstrategy: binpack\npriority_classes: {high: 900, batch: 100}\ndefault_priority_class: batch\n",
    )
    .unwrap();
    let policy_path = policy_file.path().to_str().unwrap();
    let policy = rota(
        &bed,
        Identity::Operator,
        &["policy", "set", "--file", policy_path],
    );
    assert!(
        policy.status.success(),
        "{}",
        String::from_utf8_lossy(&policy.stderr)
    );
    let limited = submit(
        &bed,
        r#"{"tenant": "acme", "command": ["sleep", "60"], "walltime_s": 1,
            "resources": {"cpu_milli": 500, "memory_bytes": 268435456}}"#,
    );
    let state = bed
        .wait_for("the job past its limit to be stopped", |s| {
            s.jobs
                .get(&limited)
                .is_some_and(|j| j.state == JobState::Finished)
        })
        .await;
    let job = &state.jobs[&limited];
    assert!(job.timed_out);
    assert_eq!(job.outcome, Some(Outcome::Killed));
    assert_eq!(state.policy.backfill, rota_events::Backfill::Conservative);
    assert_eq!(state.policy.strategy, rota_events::Strategy::Binpack);
    let status = rota(&bed, Identity::Auditor, &["status", &limited]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("job.timed_out"));

    // A job too large for what is free now is explained.
    let waiting = submit(
        &bed,
        r#"{"tenant": "acme", "command": ["true"], "resources": {"cpu_milli": 3900, "memory_bytes": 1024}}"#,
    );
    bed.wait_for("the large job to be admitted", |s| {
        s.jobs
            .get(&waiting)
            .is_some_and(|j| j.state == JobState::Pending)
    })
    .await;
    let explained = rota(&bed, Identity::Auditor, &["explain", &waiting]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(explained.status.success(), "{text}");
    assert!(text.contains("pending"), "{text}");
    assert!(text.contains("0/1 nodes fit: 1 insufficient cpu"), "{text}");
    assert!(
        text.contains("+ class 100 x 1000") && text.contains("its class batch"),
        "{text}"
    );
    assert!(
        text.contains("reservation: expected to start on worker-1"),
        "{text}"
    );
    let too_big = submit(
        &bed,
        r#"{"tenant": "acme", "command": ["true"], "resources": {"cpu_milli": 8000, "memory_bytes": 1024}}"#,
    );
    bed.wait_for("the too-large job to be admitted", |s| {
        s.jobs
            .get(&too_big)
            .is_some_and(|j| j.state == JobState::Pending)
    })
    .await;
    let explained = rota(&bed, Identity::Auditor, &["explain", &too_big]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(text.contains("more than any ready node"), "{text}");

    // `rota status` tells the story of the failing job.
    rota_testkit::assert_whole_story(
        &rota(&bed, Identity::Auditor, &["status", &failing]),
        "finished: failed",
    );
    let unknown = rota(&bed, Identity::Auditor, &["status", "no-such-job"]);
    assert!(!unknown.status.success());

    // A misspelt constraint is refused by its path, and nothing is logged,
    // rather than the job running without the constraint.
    let submissions = |entries: &[rota_projections::LogEntry]| {
        entries
            .iter()
            .filter(|e| e.subject.ends_with(".submitted"))
            .count()
    };
    let submitted_before = submissions(&bed.entries().await);
    let misspelt = try_submit(
        &bed,
        r#"{"tenant": "acme", "command": ["true"],
            "resources": {"cpu_milli": 500, "memory_bytes": 268435456},
            "constraints": {"tolerations": [{"key": "gpu", "efect": "no_schedule"}]}}"#,
    );
    let error = String::from_utf8_lossy(&misspelt.stderr);
    assert!(!misspelt.status.success(), "{error}");
    assert!(
        error.contains("`constraints.tolerations.0.efect`"),
        "{error}"
    );
    assert_eq!(submissions(&bed.entries().await), submitted_before);

    // Every decision in this log re-derives exactly.
    let verify = rota(&bed, Identity::Auditor, &["replay", "verify"]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("replay verify: clean"), "{report}");
}
