//! The identities of a local run: when `rota demo` starts its own
//! nats-server, it writes an authorization configuration for it with one
//! NKey user per part of the run (the services, the fleet, each tenant of
//! the workload, an auditor that follows the log, an operator that
//! provisions the stream), and each part connects as its own identity, so
//! the demo runs under the same server-enforced permissions, over TLS, as a
//! cell that `rota auth init` configured.

use rota_shell::CellLog;
use rota_shell::access::{Access, Credentials, Identity, authorization_config, new_users};
use rota_shell::tls::TlsFiles;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file, in the run's temporary directory, that the server starts with.
const SERVER_CONFIG_FILE: &str = "nats-server.conf";

pub struct LocalAccess {
    /// Holds the configuration for as long as the server runs.
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    credentials: BTreeMap<String, Credentials>,
    tls: TlsFiles,
    /// The stream's replicas, when it runs on a cluster.
    replicas: Option<usize>,
}

impl LocalAccess {
    /// Users for the services, the fleet, an auditor, an operator and each
    /// of `tenants`, in `cell`, whose connections keep the cell's stream on
    /// `replicas` servers.
    pub fn generate(
        cell: &str,
        tenants: &[&str],
        replicas: Option<usize>,
    ) -> anyhow::Result<LocalAccess> {
        let mut identities = Identity::of_every_cell();
        identities.extend(tenants.iter().map(|t| Identity::Tenant(t.to_string())));
        let mut credentials = BTreeMap::new();
        let mut users = Vec::new();
        for (user, generated) in new_users(identities) {
            credentials.insert(user.identity.name(), generated);
            users.push(user);
        }
        let dir = tempfile::Builder::new().prefix("rota-auth-").tempdir()?;
        let tls = rota_shell::tls::generate(cell, &dir.path().join("tls"), &[])
            .map_err(anyhow::Error::msg)?;
        let config = dir.path().join(SERVER_CONFIG_FILE);
        std::fs::write(
            &config,
            format!(
                "jetstream {{}}\n{}{}",
                tls.server_config(),
                authorization_config(cell, &users)
            ),
        )?;
        Ok(LocalAccess {
            _dir: dir,
            config,
            credentials,
            tls,
            replicas,
        })
    }

    /// Connects to `cell` at `url` as `identity`.
    pub async fn connect(
        &self,
        url: &str,
        cell: &str,
        identity: &Identity,
    ) -> anyhow::Result<CellLog> {
        let credentials = self.credentials.get(&identity.name()).ok_or_else(|| {
            anyhow::anyhow!("the local run has no credentials for {}", identity.name())
        })?;
        let access = Access {
            credentials: Some(credentials.clone()),
            tls_ca: Some(self.tls.ca.clone()),
            replicas: self.replicas,
        };
        Ok(CellLog::connect_as(url, cell, &access).await?)
    }
}
