//! Who may publish and subscribe to what: the identities of a cell and the
//! permissions the NATS server enforces for each, written by `rota auth
//! init` as a server configuration with one NKey user per identity.
//!
//! The server checks every publish and subscription against the user's
//! permissions, so a tenant's credentials cannot write another tenant's
//! events or any decision, an agent's cannot report for another node, and a
//! service's cannot write another service's decisions or claim its lease.
//! Reading is limited too: a tenant can create consumers only over its own
//! subjects (the consumer-create request names its filter subject, which
//! the permission pins), cannot subscribe to the stream's subjects directly,
//! and receives replies only on an inbox of its own. The fold still refuses
//! what a writer may not write (defence in depth): see docs/security.md.

use rota_events::{
    TYPE_NAMES, liveness_node_subject, liveness_one_node_subject, stream_name, subject_patterns,
    writer_of,
};

/// The services that decide, each the one writer of its decisions.
pub const SERVICES: [&str; 5] = ["admission", "placement", "fairshare", "preemption", "clock"];

pub use rota_events::Identity;

/// Publish and subscribe allow-lists; anything not listed is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

/// What the server lets each identity do: an extension of [`Identity`].
pub trait ServerPermissions {
    /// What this identity may publish and subscribe to in `cell`, its
    /// replies arriving under `inbox`.
    fn permissions(&self, cell: &str, inbox: &str) -> Permissions;
}

impl ServerPermissions for Identity {
    /// What this identity may publish and subscribe to in `cell`, its
    /// replies arriving under `inbox`.
    fn permissions(&self, cell: &str, inbox: &str) -> Permissions {
        let mut publish = event_subjects(self, cell);
        publish.extend(liveness_publish(self, cell));
        publish.extend(jetstream_api(self, cell));
        let mut subscribe = vec![format!("{inbox}.>")];
        subscribe.extend(liveness_subscribe(self, cell));
        Permissions { publish, subscribe }
    }
}

/// The stream subjects of the events this identity writes.
fn event_subjects(identity: &Identity, cell: &str) -> Vec<String> {
    TYPE_NAMES
        .iter()
        .flat_map(|type_name| {
            identity
                .scope_for(writer_of(type_name))
                .map(|scope| subject_patterns(cell, type_name, &scope))
                .unwrap_or_default()
        })
        .collect()
}

fn liveness_publish(identity: &Identity, cell: &str) -> Vec<String> {
    match identity {
        Identity::Agent(node) => vec![liveness_one_node_subject(cell, node)],
        Identity::Fleet => vec![
            liveness_node_subject(cell),
            liveness_one_node_subject(cell, "*"),
        ],
        Identity::Service(service) => vec![format!("rota.{cell}.live.service.{service}")],
        Identity::Services => vec![format!("rota.{cell}.live.service.*")],
        _ => Vec::new(),
    }
}

fn liveness_subscribe(identity: &Identity, cell: &str) -> Vec<String> {
    match identity {
        Identity::Service(service) if service == "clock" => vec![
            liveness_node_subject(cell),
            liveness_one_node_subject(cell, "*"),
            format!("rota.{cell}.live.service.clock"),
        ],
        Identity::Service(service) => vec![format!("rota.{cell}.live.service.{service}")],
        Identity::Services => vec![format!("rota.{cell}.live.>")],
        _ => Vec::new(),
    }
}

/// The JetStream API requests this identity may make on the cell's
/// stream: reading through consumers for all (a tenant's only over its
/// own subjects), the stream's info and direct reads for all but
/// tenants, provisioning for the services and the operator.
fn jetstream_api(identity: &Identity, cell: &str) -> Vec<String> {
    let stream = stream_name(cell);
    let api = "$JS.API";
    let mut subjects = vec![
        format!("{api}.INFO"),
        format!("{api}.CONSUMER.MSG.NEXT.{stream}.*"),
        format!("{api}.CONSUMER.INFO.{stream}.*"),
        format!("{api}.CONSUMER.DELETE.{stream}.*"),
    ];
    match identity {
        Identity::Tenant(tenant) => {
            subjects.push(format!(
                "{api}.CONSUMER.CREATE.{stream}.*.rota.{cell}.job.{tenant}.>"
            ));
            subjects.push(format!(
                "{api}.CONSUMER.CREATE.{stream}.*.rota.{cell}.input.rejected.{tenant}"
            ));
        }
        // Not a tenant: the stream's own info, which with a subject
        // filter lists every subject's count, would tell a tenant the
        // other tenants' job ids.
        _ => {
            subjects.push(format!("{api}.STREAM.INFO.{stream}"));
            subjects.push(format!("{api}.CONSUMER.CREATE.{stream}"));
            subjects.push(format!("{api}.CONSUMER.CREATE.{stream}.>"));
            subjects.push(format!("{api}.DIRECT.GET.{stream}"));
            subjects.push(format!("{api}.DIRECT.GET.{stream}.>"));
            subjects.push(format!("{api}.STREAM.MSG.GET.{stream}"));
        }
    }
    if matches!(
        identity,
        Identity::Service(_) | Identity::Services | Identity::Operator
    ) {
        subjects.push(format!("{api}.STREAM.CREATE.{stream}"));
        subjects.push(format!("{api}.STREAM.UPDATE.{stream}"));
    }
    subjects
}

/// The inbox prefix of the user whose NKey public key is `public_key`: its
/// replies arrive only there, and only it may subscribe there.
pub fn inbox_prefix(public_key: &str) -> String {
    format!("_INBOX_{public_key}")
}

/// One user of the server configuration: an identity and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub identity: Identity,
    pub public_key: String,
}

/// A new key for each of `identities`: the users of a configuration, each
/// with the credentials to hand to it.
pub fn new_users(identities: Vec<Identity>) -> Vec<(User, Credentials)> {
    identities
        .into_iter()
        .map(|identity| {
            let credentials = Credentials::generate();
            let user = User {
                identity,
                public_key: credentials.public_key().to_string(),
            };
            (user, credentials)
        })
        .collect()
}

/// The `authorization` block of a nats-server configuration for `users`
/// of `cell`: every user an NKey with its allow-lists, nothing else let in.
pub fn authorization_config(cell: &str, users: &[User]) -> String {
    let mut text = String::from("authorization {\n  users: [\n");
    for user in users {
        let permissions = user
            .identity
            .permissions(cell, &inbox_prefix(&user.public_key));
        text.push_str(&format!(
            "    # {}\n    {{\n      nkey: {}\n      permissions: {{\n        publish: {{ allow: {} }}\n        subscribe: {{ allow: {} }}\n      }}\n    }}\n",
            user.identity.name(),
            user.public_key,
            quoted_list(&permissions.publish),
            quoted_list(&permissions.subscribe),
        ));
    }
    text.push_str("  ]\n}\n");
    text
}

fn quoted_list(subjects: &[String]) -> String {
    let quoted: Vec<String> = subjects.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// How a connection proves who it is and checks whom it talks to (an
/// identity's credentials, and the authority whose certificate the server
/// must present, which makes the connection TLS), and how it provisions the
/// cell's stream.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub credentials: Option<Credentials>,
    pub tls_ca: Option<std::path::PathBuf>,
    /// On how many servers the cell's stream is to be kept, when this
    /// connection provisions it: a stream with another count is changed to
    /// it. None leaves an existing stream as it is and creates one with one
    /// replica.
    pub replicas: Option<usize>,
}

impl Access {
    /// No credentials, no TLS: for servers without authorization.
    pub fn none() -> Access {
        Access::default()
    }
}

/// An identity's secret: the seed of its NKey, as a `.nk` file holds it.
#[derive(Clone)]
pub struct Credentials {
    seed: String,
    public_key: String,
}

impl std::fmt::Debug for Credentials {
    /// Never prints the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.public_key)
    }
}

impl Credentials {
    /// A new random user NKey.
    pub fn generate() -> Credentials {
        let pair = nkeys::KeyPair::new_user();
        Credentials {
            seed: pair.seed().expect("a new pair has its seed"),
            public_key: pair.public_key(),
        }
    }

    /// Reads a seed file: the first line that is a user seed (`SU...`), so
    /// that a plain `.nk` file and one with comment or armour lines both
    /// work.
    pub fn load(path: &std::path::Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read credentials {}: {e}", path.display()))?;
        let seed = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("SU"))
            .ok_or_else(|| {
                format!(
                    "credentials {} hold no NKey user seed (a line starting with SU), as `rota auth init` writes",
                    path.display()
                )
            })?;
        let pair = nkeys::KeyPair::from_seed(seed)
            .map_err(|e| format!("credentials {}: not a valid NKey seed: {e}", path.display()))?;
        Ok(Credentials {
            seed: seed.to_string(),
            public_key: pair.public_key(),
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    pub fn seed(&self) -> &str {
        &self.seed
    }

    /// The file text for this seed, naming whose it is.
    pub fn file_text(&self, identity: &Identity, cell: &str) -> String {
        format!(
            "# Rota credentials: {} of cell {cell}. Keep this file secret.\n# Public key {}; replies arrive under {}.\n{}\n",
            identity.name(),
            self.public_key,
            inbox_prefix(&self.public_key),
            self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publishes(identity: &Identity) -> Vec<String> {
        identity.permissions("c", "_INBOX_X").publish
    }

    #[test]
    fn a_tenant_publishes_only_its_own_submissions_and_cancels() {
        let subjects = publishes(&Identity::Tenant("acme".into()));
        let stream: Vec<&String> = subjects.iter().filter(|s| s.starts_with("rota.")).collect();
        assert_eq!(
            stream,
            [
                "rota.c.job.acme.*.submitted",
                "rota.c.job.acme.*.cancel_requested"
            ]
        );
        assert!(
            !subjects
                .iter()
                .any(|s| s.ends_with("CONSUMER.CREATE.ROTA_c.>"))
        );
    }

    #[test]
    fn an_agent_reports_only_for_its_node() {
        let subjects = publishes(&Identity::Agent("n1".into()));
        assert!(subjects.contains(&"rota.c.job.*.*.started.n1".to_string()));
        assert!(subjects.contains(&"rota.c.node.n1.registered".to_string()));
        assert!(subjects.contains(&"rota.c.live.nodes.n1".to_string()));
        assert!(!subjects.contains(&"rota.c.live.nodes".to_string()));
        assert!(
            !subjects
                .iter()
                .any(|s| s.contains("bound") || s.contains(".*.started.*"))
        );
    }

    #[test]
    fn a_service_writes_only_its_decisions_and_its_lease() {
        let subjects = publishes(&Identity::Service("placement".into()));
        assert!(subjects.contains(&"rota.c.job.*.*.bound.*".to_string()));
        assert!(subjects.contains(&"rota.c.lease.placement".to_string()));
        assert!(
            !subjects
                .iter()
                .any(|s| s.contains("admitted") || s == "rota.c.lease.*")
        );
        let auditor = publishes(&Identity::Auditor);
        assert!(!auditor.iter().any(|s| s.starts_with("rota.")));
    }

    #[test]
    fn credentials_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = Credentials::generate();
        let path = dir.path().join("t.nk");
        std::fs::write(&path, credentials.file_text(&Identity::Auditor, "c")).unwrap();
        let loaded = Credentials::load(&path).unwrap();
        assert_eq!(loaded.public_key(), credentials.public_key());
        std::fs::write(&path, "no seed here\n").unwrap();
        assert!(
            Credentials::load(&path)
                .unwrap_err()
                .contains("no NKey user seed")
        );
    }
}
