//! TLS for the connections to a cell's server: a certificate authority of
//! the cell's own and a server certificate it signs, written by `rota auth
//! init` (and by `rota demo` for its own server). The server presents the
//! certificate and accepts only TLS clients; every client checks it against
//! the authority (`--tls-ca`), so neither credentials nor events cross the
//! network in the clear.

use crate::access_files::write_new;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// The names the server certificate always holds, for servers on loopback.
pub const LOOPBACK_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Most further host names or addresses one server certificate holds.
pub const SERVER_NAMES_MAX: usize = 64;

/// The files of a cell's TLS setup, in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The authority's certificate, which clients trust.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    /// The server's private key, readable only by its owner.
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// Where the files are under `dir`.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server-cert.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }

    /// The nats-server configuration block that serves these files and
    /// refuses clients without TLS.
    pub fn server_config(&self) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 5\n}}\n",
            self.server_cert.display(),
            self.server_key.display()
        )
    }
}

/// Generates an authority for `cell` and a server certificate for the
/// loopback names and `hosts`, writing them as PEM files into `dir`.
pub fn generate(cell: &str, dir: &Path, hosts: &[String]) -> Result<TlsFiles, String> {
    if hosts.len() > SERVER_NAMES_MAX {
        return Err(format!(
            "{} host names given; a server certificate holds at most {SERVER_NAMES_MAX}",
            hosts.len()
        ));
    }
    let failed = |what: &str, e: rcgen::Error| format!("cannot make the {what}: {e}");
    let mut authority =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| failed("authority", e))?;
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    authority
        .distinguished_name
        .push(DnType::CommonName, format!("Rota cell {cell} authority"));
    let authority_key = KeyPair::generate().map_err(|e| failed("authority's key", e))?;
    let authority = authority
        .self_signed(&authority_key)
        .map_err(|e| failed("authority", e))?;
    let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
    names.extend(hosts.iter().cloned());
    let mut server = CertificateParams::new(names).map_err(|e| failed("server certificate", e))?;
    server
        .distinguished_name
        .push(DnType::CommonName, format!("Rota cell {cell} server"));
    let server_key = KeyPair::generate().map_err(|e| failed("server's key", e))?;
    let server = server
        .signed_by(&server_key, &authority, &authority_key)
        .map_err(|e| failed("server certificate", e))?;
    let files = TlsFiles::in_dir(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_new(&files.ca, &authority.pem(), 0o644)?;
    write_new(&files.server_cert, &server.pem(), 0o644)?;
    write_new(&files.server_key, &server_key.serialize_pem(), 0o600)?;
    Ok(files)
}
