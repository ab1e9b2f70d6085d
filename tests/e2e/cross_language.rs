//! A Python client that knows only docs/events.md and docs/security.md
//! connects as a tenant under the server's permissions, submits one job in
//! MessagePack and one in JSON, and sees both placements on the decision
//! stream.

use rota_events::Resources;
use rota_shell::access::Identity;
use rota_shell::nodes::{NodeSpec, SimRunner, run_nodes};
use rota_testkit::{TestBed, assert_replay_clean, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_submits_and_follows_its_jobs() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    let nodes = vec![NodeSpec {
        name: "py-node".to_string(),
        capacity: Resources {
            cpu_milli: 8000,
            memory_bytes: 8 << 30,
            gpus: 0,
            ..Default::default()
        },
        ..Default::default()
    }];
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        nodes,
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));

    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-tools",
        python.display()
    );
    // The client connects as tenant pyclient's NKey user over TLS, under
    // the server's permissions for tenants.
    let (creds, ca) = bed
        .client_files(&Identity::Tenant("pyclient".to_string()))
        .expect("the bed has authorization");
    let output = tokio::process::Command::new(&python)
        .arg(repo_root().join("tests/python/client.py"))
        .arg("--creds")
        .arg(&creds)
        .arg("--tls-ca")
        .arg(&ca)
        .args([
            "--nats",
            bed.url(),
            "--cell",
            "default",
            "--tenant",
            "pyclient",
            "--timeout",
            "30",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client failed:\n{stdout}\n{stderr}"
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["ok"], true);
    let jobs = result["jobs"].as_object().unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.values().all(|node| node == "py-node"), "{result}");

    bed.stop_services().await;
    fleet.await.unwrap().unwrap();
    assert_replay_clean(&bed.entries().await);
}

/// A Python agent that knows only docs/events.md signs its node's
/// registration with its NKey: the fold takes it, and refuses the same
/// registration unsigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_agent_signs_its_registration_as_the_docs_say() {
    let bed = TestBed::start().await;
    let python = repo_root().join(".venv/bin/python");
    let node = rota_testkit::TEST_AGENT_NODES[0];
    let (creds, ca) = bed
        .client_files(&Identity::Agent(node.to_string()))
        .expect("the bed has authorization");
    let output = tokio::process::Command::new(&python)
        .arg(repo_root().join("tests/python/agent.py"))
        .arg("--creds")
        .arg(&creds)
        .arg("--tls-ca")
        .arg(&ca)
        .args(["--nats", bed.url(), "--cell", "default", "--node", node])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "agent failed:\n{stdout}\n{stderr}");
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let unsigned_seq = result["unsigned_seq"].as_u64().unwrap();
    let state = bed
        .wait_for("both registrations", |s| s.applied_seq >= unsigned_seq)
        .await;
    let registered = &state.nodes[node];
    assert_eq!(registered.capacity.cpu_milli, 4000, "the signed one holds");
    assert_eq!(
        registered.registered_seq,
        result["signed_seq"].as_u64().unwrap()
    );
    let refusal = &state.backlog.rejections[&unsigned_seq].detail;
    assert!(refusal.contains("not signed"), "{refusal}");
}
