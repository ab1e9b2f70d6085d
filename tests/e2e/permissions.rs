//! The NATS server itself enforces who may write and read what, under the
//! configuration `rota auth init` writes: against a real server started with
//! it, each identity's publishes outside its part are refused by the server
//! (nothing is stored), a tenant cannot read another tenant's events, no
//! client gets in without credentials or without TLS, and what each
//! identity may do still works.

use rota_events::{
    Body, Event, JobBound, JobCancelRequested, JobCancelled, JobFinished, JobStarted, LeaseClaimed,
    Outcome,
};
use rota_shell::CellLog;
use rota_shell::access::{Access, Credentials};
use rota_shell::nats_server::NatsServer;
use rota_testkit::forgeries::shrunk_registration;
use rota_testkit::{CELL, job, run_rota, small};
use std::path::Path;
use std::time::Duration;

/// How long a test waits for a refused publish to be seen as refused.
const REFUSAL_WAIT: Duration = Duration::from_secs(10);

struct Cell {
    server: NatsServer,
    dir: tempfile::TempDir,
}

impl Cell {
    fn start(binary: &str) -> Cell {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("auth");
        let init = run_rota(
            binary,
            "nats://127.0.0.1:1",
            &[
                "auth",
                "init",
                "--out",
                out.to_str().unwrap(),
                "--cell",
                CELL,
                "--tenant",
                "acme",
                "--tenant",
                "beta",
                "--node",
                "node-1",
                "--node",
                "node-2",
            ],
        );
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let server = NatsServer::start_with_config(&out.join("nats-server.conf"))
            .unwrap_or_else(|e| panic!("{e}"));
        Cell { server, dir }
    }

    fn creds(&self, identity: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join("auth/creds")
            .join(format!("{identity}.nk"))
    }

    fn tls_ca(&self) -> std::path::PathBuf {
        self.dir.path().join("auth/tls/ca.pem")
    }

    async fn connect(&self, identity: &str) -> CellLog {
        let access = Access {
            credentials: Some(Credentials::load(&self.creds(identity)).unwrap()),
            tls_ca: Some(self.tls_ca()),
            replicas: None,
        };
        CellLog::connect_as(&self.server.url, CELL, &access)
            .await
            .unwrap_or_else(|e| {
                panic!("{identity} cannot connect: {e}\n{}", self.server.log_tail())
            })
    }
}

/// Publishes `event` as `log` and expects the server to refuse it, within a
/// bound: the publish fails and nothing is stored.
async fn refused(log: &CellLog, event: &Event, who: &str) {
    let result = tokio::time::timeout(REFUSAL_WAIT, log.publish(event))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{who}: the refused publish of {} did not end",
                event.subject()
            )
        });
    assert!(
        result.is_err(),
        "{who} could publish on {}",
        event.subject()
    );
}

fn cancel(tenant: &str, job: &str) -> Event {
    Event::new(
        format!("cancel-{tenant}-{job}"),
        CELL,
        Body::JobCancelRequested(JobCancelRequested {
            job: job.into(),
            reason: None,
        }),
    )
    .with_tenant(tenant)
}

fn started(job: &str, node: &str) -> Event {
    Event::new(
        format!("start-{job}-{node}"),
        CELL,
        Body::JobStarted(JobStarted {
            job: job.into(),
            node: node.into(),
            pid: None,
        }),
    )
    .with_tenant("acme")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_what_an_identity_may_not_write_or_read() {
    let binary = env!("CARGO_BIN_EXE_rota");
    let cell = Cell::start(binary);
    // Nobody gets in without credentials, and nobody without TLS.
    assert!(CellLog::connect(&cell.server.url, CELL).await.is_err());
    let without_tls = Access {
        credentials: Some(Credentials::load(&cell.creds("auditor")).unwrap()),
        tls_ca: None,
        replicas: None,
    };
    assert!(
        CellLog::connect_as(&cell.server.url, CELL, &without_tls)
            .await
            .is_err()
    );
    // The operator provisions the stream; the others find it.
    let _operator = cell.connect("operator").await;
    let acme = cell.connect("tenant-acme").await;
    let beta = cell.connect("tenant-beta").await;

    // A tenant submits and cancels its own jobs, and nobody else's.
    acme.publish(&job("acme", "a1", small(), &[]))
        .await
        .unwrap();
    acme.publish(&cancel("acme", "a1")).await.unwrap();
    beta.publish(&job("beta", "b1", small(), &[]))
        .await
        .unwrap();
    refused(&acme, &cancel("beta", "b1"), "tenant acme").await;
    refused(&acme, &job("beta", "b2", small(), &[]), "tenant acme").await;

    // No tenant writes a decision, a report or a lease claim.
    let claim = Event::new(
        "claim",
        CELL,
        Body::LeaseClaimed(LeaseClaimed {
            service: "placement".into(),
            epoch: 1,
            holder: "forger".into(),
        }),
    );
    refused(&acme, &claim, "tenant acme").await;
    refused(&acme, &started("a1", "node-1"), "tenant acme").await;
    // Nor any of the forgeries a client without permissions once got in:
    // another process's job finished on the node it ran on, a binding or a
    // cancellation in a decision's clothes, and a node registration that
    // rewrites a real node or makes up one.
    let finished_on_its_node = Event::new(
        "forged-finish",
        CELL,
        Body::JobFinished(JobFinished {
            job: "b1".into(),
            node: "node-1".into(),
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            signal: None,
            message: None,
            checkpointed: false,
        }),
    )
    .with_tenant("beta");
    let bound = Event::new(
        "forged-bound",
        CELL,
        Body::JobBound(JobBound {
            job: "a1".into(),
            node: "node-1".into(),
            resources: small(),
            gpu_devices: Vec::new(),
            reclaimable: false,
        }),
    )
    .with_tenant("acme");
    let cancelled = Event::new(
        "forged-cancelled",
        CELL,
        Body::JobCancelled(JobCancelled {
            job: "b1".into(),
            reason: "cancelled on request".into(),
            node: None,
        }),
    )
    .with_tenant("beta");
    let registration =
        |node: &str| shrunk_registration(&format!("forged-registration-{node}"), node);
    for forgery in [
        finished_on_its_node,
        bound,
        cancelled,
        registration("node-1"),
        registration("phantom"),
    ] {
        refused(&acme, &forgery, "tenant acme").await;
    }

    // A tenant reads its own jobs' events, not another's, and may not ask
    // about the stream: with a subject filter, the answer lists every
    // tenant's job subjects.
    let mut own = acme
        .entries(1, vec!["rota.default.job.acme.>".to_string()])
        .await
        .unwrap();
    for what in ["acme's submission", "acme's cancel request"] {
        let read = tokio::time::timeout(REFUSAL_WAIT, own.next())
            .await
            .unwrap_or_else(|_| panic!("{what} was not read"));
        let (entry, _) = read.expect("an entry").expect("readable");
        assert!(
            entry.subject.starts_with("rota.default.job.acme."),
            "{}",
            entry.subject
        );
    }
    let info = tokio::time::timeout(
        REFUSAL_WAIT,
        acme.js.get_stream(rota_events::stream_name(CELL)),
    )
    .await;
    assert!(
        !matches!(info, Ok(Ok(_))),
        "tenant acme could read the stream's info, and with it other tenants' job ids"
    );
    let others = tokio::time::timeout(
        REFUSAL_WAIT,
        acme.entries(1, vec!["rota.default.job.beta.>".to_string()]),
    )
    .await
    .expect("a refused read ends");
    assert!(
        others.is_err(),
        "tenant acme could read tenant beta's events"
    );
    let everything = tokio::time::timeout(REFUSAL_WAIT, acme.entries(1, Vec::new()))
        .await
        .expect("a refused read ends");
    assert!(
        everything.is_err(),
        "tenant acme could read the whole stream"
    );

    // An agent reports for its own node only.
    let agent = cell.connect("agent-node-1").await;
    agent.publish(&started("a1", "node-1")).await.unwrap();
    refused(&agent, &started("a1", "node-2"), "agent of node-1").await;
    let finished = Event::new(
        "finish-forged",
        CELL,
        Body::JobFinished(JobFinished {
            job: "b1".into(),
            node: "node-2".into(),
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            signal: None,
            message: None,
            checkpointed: false,
        }),
    )
    .with_tenant("beta");
    refused(&agent, &finished, "agent of node-1").await;

    // An agent says only its own node is alive: the services hear node-1's
    // heartbeat, and the server drops the one it sends for node-2.
    let services = cell.connect("services").await;
    let mut heard = services
        .client
        .subscribe("rota.default.live.nodes.>")
        .await
        .unwrap();
    services.client.flush().await.unwrap();
    for node in ["node-2", "node-1"] {
        agent
            .client
            .publish(format!("rota.default.live.nodes.{node}"), node.into())
            .await
            .unwrap();
    }
    agent.client.flush().await.unwrap();
    let first = tokio::time::timeout(REFUSAL_WAIT, futures::StreamExt::next(&mut heard))
        .await
        .expect("a heartbeat arrives")
        .unwrap();
    assert_eq!(first.subject.as_str(), "rota.default.live.nodes.node-1");

    // A service writes its own decisions and lease, not another's.
    let admission = cell.connect("service-admission").await;
    refused(&admission, &claim, "admission").await;
    let auditor = cell.connect("auditor").await;
    refused(&auditor, &cancel("acme", "a1"), "the auditor").await;
    let all = auditor.read_all().await.unwrap();
    let subjects: Vec<&str> = all.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "rota.default.job.acme.a1.submitted",
            "rota.default.job.acme.a1.cancel_requested",
            "rota.default.job.beta.b1.submitted",
            "rota.default.job.acme.a1.started.node-1",
        ],
        "only what each identity may write was stored"
    );
    assert!(Path::new(&cell.creds("fleet")).exists());
}
