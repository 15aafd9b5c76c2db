//! `veil pki init | issue`

use veil_net::pki::{self, Extra};

use crate::cli::PkiCommand;
use crate::report::show;

pub fn run(cmd: &PkiCommand, json: bool) -> anyhow::Result<()> {
    let files = match cmd {
        PkiCommand::Init { dir, force } => pki::init(dir, *force)?,
        PkiCommand::Issue {
            dir,
            name,
            ips,
            dns,
            role,
            force,
        } => {
            let extra = Extra {
                dns: dns.clone(),
                ips: ips.clone(),
                role: *role,
            };
            pki::issue(dir, name, &extra, *force)?
        }
    };
    show(json, &files, |f| {
        let what = match cmd {
            PkiCommand::Init { .. } => "certificate authority",
            PkiCommand::Issue { .. } => "certificate",
        };
        println!("{what}: {}", f.cert.display());
        let offline = matches!(cmd, PkiCommand::Init { .. })
            .then_some(", or offline: it can mint any identity in the deployment");
        println!(
            "key: {} (mode 0600, unprotected: it can act as this party; keep it on the party's machine only{})",
            f.key.display(),
            offline.unwrap_or_default()
        );
    })
}
