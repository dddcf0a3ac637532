//! Certificates for one control plane, made with the openssl CLI: a CA, the
//! apiserver's serving certificate, client certificates for the admin (group
//! system:masters) and for kube-controller-manager (named as in a real
//! cluster, so API priority and fairness and its metrics tell its requests
//! apart) and the service-account signing key pair.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The user kube-controller-manager authenticates as.
pub const KCM_USER: &str = "system:kube-controller-manager";

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn generate(dir: &Path) -> Result<Pki> {
        std::fs::create_dir_all(dir)?;
        let ssl = |args: &[&str]| openssl(dir, args);
        ssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=berth-plane-ca"])?;
        sign(dir, "apiserver", "/CN=kube-apiserver",
            "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment")?;
        sign(dir, "admin", "/O=system:masters/CN=berth-admin",
            "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment")?;
        sign(dir, "kcm", &format!("/CN={KCM_USER}"),
            "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment")?;
        ssl(&["genrsa", "-out", "sa.key", "2048"])?;
        ssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
        Ok(Pki { dir: dir.to_path_buf() })
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

fn sign(dir: &Path, name: &str, subject: &str, extensions: &str) -> Result<()> {
    let (key, csr, crt, ext) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    std::fs::write(dir.join(&ext), extensions)?;
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject])?;
    openssl(dir, &["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", &crt, "-days", "7", "-extfile", &ext])
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
