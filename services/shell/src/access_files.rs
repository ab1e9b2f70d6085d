//! The files of a cell's access, in one directory: the server configuration
//! with one NKey user per identity, a seed file per identity, and the TLS
//! authority and server certificate. `rota auth init` writes them for an
//! operator; [`LocalAccess`] writes them into a temporary directory for a
//! server that `rota demo`, `rota bench` or a test starts itself.

use crate::CellLog;
use crate::access::{Access, Credentials, Identity, authorization_config, new_users};
use crate::log::LogError;
use crate::roster::{ROSTER_FILE, RosterFile, set_roster};
use crate::tls::TlsFiles;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file that holds the users and their permissions.
pub const AUTH_CONFIG_FILE: &str = "auth.conf";

/// The server configuration file, which includes [`AUTH_CONFIG_FILE`].
pub const SERVER_CONFIG_FILE: &str = "nats-server.conf";

/// The directory of the seed files, one `<identity>.nk` each.
pub const CREDS_DIR: &str = "creds";

/// The directory of the authority and the server's certificate and key.
pub const TLS_DIR: &str = "tls";

/// A cell's access files, written.
pub struct AccessFiles {
    pub server_config: PathBuf,
    pub tls: TlsFiles,
    creds_dir: PathBuf,
    /// Each identity's credentials, by its name.
    credentials: BTreeMap<String, Credentials>,
    /// Whose each key is, as [`ROSTER_FILE`] holds it.
    roster: RosterFile,
}

impl AccessFiles {
    /// Writes, into `dir`, a user with a new key for each of `identities`
    /// of `cell`, its seed file, and TLS files for the loopback names and
    /// `hosts`. Refuses a directory that holds a configuration already, so
    /// that no credentials in use are overwritten.
    pub fn write(
        dir: &Path,
        cell: &str,
        identities: Vec<Identity>,
        hosts: &[String],
    ) -> Result<AccessFiles, String> {
        if identities.len() > rota_events::ROSTER_MEMBERS_MAX {
            return Err(format!(
                "{} identities are more than one roster may name ({}); give nodes beyond it the fleet's credentials",
                identities.len(),
                rota_events::ROSTER_MEMBERS_MAX
            ));
        }
        if dir.join(AUTH_CONFIG_FILE).exists() {
            return Err(format!(
                "{} already holds a configuration; remove it or choose another directory, so that no credentials in use are overwritten",
                dir.display()
            ));
        }
        // The server reads the paths in its configuration relative to where
        // it runs, so they are named in full.
        let dir = std::path::absolute(dir)
            .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
        let creds_dir = dir.join(CREDS_DIR);
        create_private_dir(&creds_dir)?;
        let mut users = Vec::new();
        let mut credentials = BTreeMap::new();
        for (user, generated) in new_users(identities) {
            let name = user.identity.name();
            write_new(
                &creds_dir.join(format!("{name}.nk")),
                &generated.file_text(&user.identity, cell),
                0o600,
            )?;
            credentials.insert(name, generated);
            users.push(user);
        }
        let tls = crate::tls::generate(cell, &dir.join(TLS_DIR), hosts)?;
        let header = format!(
            "# Users of Rota cell {cell} and what each may publish and subscribe to.\n# See docs/security.md.\n"
        );
        write_new(
            &dir.join(AUTH_CONFIG_FILE),
            &(header + &authorization_config(cell, &users)),
            0o600,
        )?;
        let roster = roster_of(&users)?;
        write_new(&dir.join(ROSTER_FILE), &roster.text(), 0o644)?;
        let server_config = dir.join(SERVER_CONFIG_FILE);
        write_new(
            &server_config,
            &format!(
                "# nats-server configuration for Rota cell {cell}.\n# Start with: nats-server -c {SERVER_CONFIG_FILE} -sd <store directory>\n# Clients connect over TLS only, trusting {TLS_DIR}/ca.pem (rota --tls-ca).\njetstream {{}}\n{}include \"{AUTH_CONFIG_FILE}\"\n",
                tls.server_config()
            ),
            0o644,
        )?;
        Ok(AccessFiles {
            server_config,
            tls,
            creds_dir,
            credentials,
            roster,
        })
    }

    /// The roster of these users' keys, for the operator to set.
    pub fn roster(&self) -> &RosterFile {
        &self.roster
    }

    /// How many users the configuration holds.
    pub fn users(&self) -> usize {
        self.credentials.len()
    }

    /// The seed file of `identity`.
    pub fn creds_file(&self, identity: &Identity) -> Result<PathBuf, String> {
        self.credentials_of(identity)?;
        Ok(self.creds_dir.join(format!("{}.nk", identity.name())))
    }

    /// How `identity` connects: its credentials over TLS, keeping the
    /// stream on `replicas` servers when it provisions it.
    pub fn access(&self, identity: &Identity, replicas: Option<usize>) -> Result<Access, String> {
        Ok(Access {
            credentials: Some(self.credentials_of(identity)?.clone()),
            tls_ca: Some(self.tls.ca.clone()),
            replicas,
        })
    }

    fn credentials_of(&self, identity: &Identity) -> Result<&Credentials, String> {
        self.credentials.get(&identity.name()).ok_or_else(|| {
            format!(
                "the configuration has no user {}; it has {}",
                identity.name(),
                self.credentials
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

/// The access of a server that this process starts and owns: the files in
/// a temporary directory that lives as long as the server does, and the
/// stream's replicas when it runs on a cluster.
pub struct LocalAccess {
    _dir: tempfile::TempDir,
    pub files: AccessFiles,
    replicas: Option<usize>,
}

impl LocalAccess {
    /// Users for `identities` of `cell`, whose connections keep the cell's
    /// stream on `replicas` servers.
    pub fn generate(
        cell: &str,
        identities: Vec<Identity>,
        replicas: Option<usize>,
    ) -> Result<LocalAccess, String> {
        let dir = tempfile::Builder::new()
            .prefix("rota-auth-")
            .tempdir()
            .map_err(|e| format!("cannot create a directory for the server's users: {e}"))?;
        let files = AccessFiles::write(dir.path(), cell, identities, &[])?;
        Ok(LocalAccess {
            _dir: dir,
            files,
            replicas,
        })
    }

    /// The configuration the server starts with.
    pub fn config(&self) -> &Path {
        &self.files.server_config
    }

    /// How `identity` connects.
    pub fn access(&self, identity: &Identity) -> Result<Access, String> {
        self.files.access(identity, self.replicas)
    }

    /// Sets the roster of these users' keys through `operator`, the
    /// operator's connection: from then on the fold takes only their signed
    /// events (a tenant's need no signature).
    pub async fn set_roster(&self, operator: &CellLog) -> Result<(), LogError> {
        set_roster(operator, self.files.roster().members.clone()).await?;
        Ok(())
    }

    /// Connects to `cell` at `url` as `identity`.
    pub async fn connect(
        &self,
        url: &str,
        cell: &str,
        identity: &Identity,
    ) -> Result<CellLog, LogError> {
        let access = self.access(identity).map_err(|detail| LogError::Connect {
            url: url.to_string(),
            detail,
        })?;
        CellLog::connect_as(url, cell, &access).await
    }
}

/// The roster naming each of `users`' keys.
fn roster_of(users: &[crate::access::User]) -> Result<RosterFile, String> {
    let members = users
        .iter()
        .map(|user| {
            Ok(rota_events::RosterMember {
                key: rota_events::PublicKey::parse(&user.public_key)?,
                identity: user.identity.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(RosterFile { members })
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Writes a new file with `mode`, refusing one that exists.
pub fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_gets_a_seed_file_and_the_directory_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let identities = vec![Identity::Auditor, Identity::Tenant("acme".into())];
        let files = AccessFiles::write(dir.path(), "c", identities.clone(), &[]).unwrap();
        assert_eq!(files.users(), 2);
        for identity in &identities {
            let path = files.creds_file(identity).unwrap();
            let loaded = Credentials::load(&path).unwrap();
            let access = files.access(identity, None).unwrap();
            assert_eq!(
                loaded.public_key(),
                access.credentials.unwrap().public_key()
            );
        }
        let missing = files.creds_file(&Identity::Fleet).unwrap_err();
        assert!(missing.contains("no user fleet"), "{missing}");
        let again = AccessFiles::write(dir.path(), "c", identities, &[]);
        assert!(again.err().unwrap().contains("already holds"));
    }
}
