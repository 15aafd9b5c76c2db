//! `veil he keygen | bench | serve | infer`

use veil_core::Table;
use veil_he::ckks::params::Parameters;
use veil_he::keyset::{self, KeySpec};
use veil_he::service::{InferenceOptions, infer_at, serve};
use veil_he::timing;
use veil_net::transport::ctrl_c;
use veil_net::{Limits, TlsIdentity};

use super::{fl::peer, runtime};
use crate::cli::HeCommand;
use crate::report::show;

pub fn run(cmd: &HeCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        HeCommand::Keygen(args) => {
            let spec = KeySpec::new(args.scheme, args.poly_degree, args.bits)?;
            let written = keyset::generate(&args.out, spec, args.force)?;
            show(json, &written, |w| {
                println!(
                    "{} key set written ({}-bit security):",
                    w.scheme, w.security_bits
                );
                for f in &w.files {
                    println!("  {}", f.display());
                }
                println!(
                    "keep {} secret (mode 0600); the others go to the server",
                    w.files[0].display()
                );
            })
        }
        HeCommand::Bench(args) => {
            let progress = |what: &str| {
                if !json {
                    eprintln!("timing {what} ({} runs each)…", args.repeat);
                }
            };
            progress("CKKS, N = 8192");
            let small = timing::ckks(Parameters::n8192(), args.repeat)?;
            progress("CKKS, N = 16384");
            let large = timing::ckks(Parameters::n16384(), args.repeat)?;
            progress("Paillier-2048");
            let paillier = timing::paillier(args.repeat)?;
            let times = timing::Times::new(small, large, paillier);
            show(json, &times, |t| print!("{t}"))
        }
        HeCommand::Serve(args) => {
            let limits = Limits::default();
            let tls = TlsIdentity::load(&args.server.tls, &args.server.name)?;
            runtime()?.block_on(serve(
                &args.model,
                args.server.listen,
                &tls,
                &limits,
                |s| {
                    let _ = show(json, s, |s| {
                        eprintln!(
                            "serving {} ({}, {} features, depth {}; {}) on {}; Ctrl-C stops",
                            s.model.display(),
                            s.kind,
                            s.features,
                            s.depth,
                            s.schemes.join(" or "),
                            s.listening
                        );
                        for refusal in &s.refusals {
                            eprintln!("  not with {refusal}");
                        }
                    });
                },
                ctrl_c(),
            ))?;
            Ok(())
        }
        HeCommand::Infer(args) => {
            let limits = Limits::default();
            let tls = TlsIdentity::load(&args.peer.tls, &args.peer.name)?;
            let table = Table::load(&args.data)?;
            let options = InferenceOptions {
                scheme: args.scheme,
                keys: args.keys.clone(),
                max_message_bytes: limits.max_message_bytes,
                layout: args.layout,
            };
            let server = peer(&args.peer);
            let result = runtime()?.block_on(async {
                tokio::select! {
                    r = infer_at(&server, &tls, &limits, &table, &options) => r,
                    () = ctrl_c() => Err(veil_he::Error::Interrupted),
                }
            })?;
            let predictions = result.predictions.to_table(&result.task)?;
            if let Some(out) = &args.out {
                // Decrypted results: the key owner's only.
                predictions.save_with(out, veil_core::atomic::Visibility::Secret)?;
            }
            if json {
                return show(json, &result, |_| {});
            }
            eprintln!(
                "scored {} rows on {} with {} ({} batch(es), {:.1} MB sent, {:.1} MB received, {:.2} s)",
                result.rows,
                args.peer.server,
                result.scheme,
                result.layout.batches,
                result.bytes_sent as f64 / 1e6,
                result.bytes_received as f64 / 1e6,
                result.seconds
            );
            match &args.out {
                Some(out) => println!("wrote {} predictions to {}", result.rows, out.display()),
                None => predictions.write_csv(std::io::stdout().lock())?,
            }
            Ok(())
        }
    }
}
