//! `veil pki init | issue`

use serde_json::json;
use veil_net::pki::{self, Extra};

use crate::cli::PkiCommand;
use crate::report;

pub fn run(cmd: &PkiCommand, json: bool) -> anyhow::Result<()> {
    let (files, what) = match cmd {
        PkiCommand::Init { dir, force } => (pki::init(dir, *force)?, "certificate authority"),
        PkiCommand::Issue {
            dir,
            name,
            ips,
            dns,
            force,
        } => {
            let extra = Extra {
                dns: dns.clone(),
                ips: ips.clone(),
            };
            (pki::issue(dir, name, &extra, *force)?, "certificate")
        }
    };
    if json {
        report::json(&json!({
            "certificate": files.cert.display().to_string(),
            "key": files.key.display().to_string(),
        }))
    } else {
        println!(
            "{what}: {} (key {}, mode 0600)",
            files.cert.display(),
            files.key.display()
        );
        Ok(())
    }
}
