//! `veil he keygen | bench | serve | infer`

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use veil_core::Table;
use veil_core::atomic::{Visibility, write_atomic_bytes_with};
use veil_he::ckks::keys::SecretKey as CkksSecretKey;
use veil_he::ckks::params::{Context, Parameters};
use veil_he::paillier;
use veil_he::service::{InferenceOptions, Service, infer};
use veil_he::timing::{self, CkksTimes};
use veil_net::transport::{bind, ctrl_c, server, spawn};
use veil_net::{Limits, TlsIdentity, probe};

use super::fl::{connect_waiting, runtime};
use super::model::predictions_table;
use crate::cli::{HeBenchArgs, HeCommand, HeInferArgs, HeKeygenArgs, HeServeArgs};
use crate::report;

pub fn run(cmd: &HeCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        HeCommand::Keygen(args) => keygen(args, json),
        HeCommand::Bench(args) => bench(args, json),
        HeCommand::Serve(args) => serve(args, json),
        HeCommand::Infer(args) => infer_command(args, json),
    }
}

fn serve(args: &HeServeArgs, json: bool) -> anyhow::Result<()> {
    let limits = Limits::default();
    let tls = TlsIdentity::load(&args.server.tls, &args.server.name)?;
    let model = veil_ml::model_file::load(&args.model)?;
    let service = Service::new(&model, limits.max_message_bytes)?;
    let info = service.info().clone();
    runtime()?.block_on(async {
        let incoming = bind(args.server.listen)?;
        // With port 0 the system picks one: say which.
        let listening = incoming
            .local_addr()
            .map_or(args.server.listen.to_string(), |a| a.to_string());
        let router = server(&tls, &limits)?
            .add_service(service.service())
            .add_service(probe::service(&limits));
        let serving = spawn(router, incoming);
        if json {
            report::json(&json!({
                "listening": listening,
                "model": args.model.display().to_string(),
                "kind": info.kind,
                "features": info.features.len(),
                "outputs": info.outputs,
                "depth": info.depth,
                "schemes": info.schemes,
            }))?;
        } else {
            eprintln!(
                "serving {} ({}, {} features, depth {}; {}) on {}; Ctrl-C stops",
                args.model.display(),
                info.kind,
                info.features.len(),
                info.depth,
                info.schemes.join(" or "),
                listening
            );
            for refusal in &info.refusals {
                eprintln!("  not with {refusal}");
            }
        }
        ctrl_c().await;
        serving.stop(Duration::from_secs(5)).await;
        anyhow::Ok(())
    })
}

fn infer_command(args: &HeInferArgs, json: bool) -> anyhow::Result<()> {
    let limits = Limits::default();
    let tls = TlsIdentity::load(&args.peer.tls, &args.peer.name)?;
    let table = Table::load(&args.data)?;
    let options = InferenceOptions {
        scheme: args.scheme.parse()?,
        keys: args.keys.clone(),
        max_message_bytes: limits.max_message_bytes,
        layout: args.layout.parse()?,
    };
    let result = runtime()?.block_on(async {
        let channel = connect_waiting(&args.peer, &tls, &limits).await?;
        tokio::select! {
            r = infer(channel, &table, &options) => Ok(Some(r?)),
            () = ctrl_c() => anyhow::Ok(None),
        }
    })?;
    let Some(result) = result else {
        anyhow::bail!(veil_he::Error::Protocol("interrupted".into()));
    };
    let task = &result.task;
    if let Some(out) = &args.out {
        predictions_table(task, &result.predictions, &result.predicted)?.save(out)?;
    }
    if json {
        let mut value = serde_json::to_value(&result)?;
        value["server"] = json!(args.peer.server);
        return report::json(&value);
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
        None => predictions_table(task, &result.predictions, &result.predicted)?
            .write_csv(std::io::stdout().lock())?,
    }
    Ok(())
}

fn keygen(args: &HeKeygenArgs, json: bool) -> anyhow::Result<()> {
    if ![8192, 16384].contains(&args.poly_degree) || ![2048, 3072].contains(&args.bits) {
        anyhow::bail!(veil_core::Error::invalid(
            "parameters",
            "--poly-degree must be 8192 or 16384, --bits 2048 or 3072 (the sets with 128-bit and 112/128-bit security)",
        ));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| veil_core::Error::io(&args.out, e))?;
    let names: &[&str] = if args.scheme == "ckks" {
        &["secret.key", "public.key", "evaluation.key"]
    } else {
        &["secret.json", "public.json"]
    };
    let paths: Vec<_> = names.iter().map(|n| args.out.join(n)).collect();
    if !args.force
        && let Some(existing) = paths.iter().find(|p| p.exists())
    {
        anyhow::bail!(veil_core::Error::invalid(
            "out",
            format!(
                "{} exists: keys are never overwritten without --force",
                existing.display()
            ),
        ));
    }
    let summary = if args.scheme == "ckks" {
        let params = match args.poly_degree {
            16384 => Parameters::n16384(),
            _ => Parameters::n8192(),
        };
        write_ckks_keys(&args.out, params)?
    } else {
        let sk = paillier::SecretKey::generate(args.bits)?;
        paillier::write_secret(&paths[0], &sk)?;
        paillier::write_public(&paths[1], sk.public())?;
        json!({"scheme": "paillier", "bits": args.bits})
    };
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if json {
        let mut out = summary;
        out["files"] = json!(files);
        return report::json(&out);
    }
    println!("{} key set written:", args.scheme);
    for f in &files {
        println!("  {f}");
    }
    println!("keep {} secret; the others go to the server", files[0]);
    Ok(())
}

/// Writes a CKKS key set into `dir`: secret.key (mode 0600), public.key and
/// evaluation.key; returns its summary.
pub(super) fn write_ckks_keys(dir: &Path, params: Parameters) -> anyhow::Result<serde_json::Value> {
    let write = |name: &str, visibility, bytes: &[u8]| {
        write_atomic_bytes_with(&dir.join(name), visibility, bytes)
    };
    let ctx = Context::new(params.clone())?;
    let sk = CkksSecretKey::generate(&ctx);
    let pk = sk.public_key()?;
    let eval = sk.evaluation_keys()?;
    write("secret.key", Visibility::Secret, &sk.to_bytes())?;
    write("public.key", Visibility::Public, &pk.to_bytes())?;
    write("evaluation.key", Visibility::Public, &eval.to_bytes(&ctx))?;
    Ok(json!({
        "scheme": "ckks",
        "poly_degree": params.degree,
        "coeff_modulus_bits": params.chain,
        "scale_bits": params.scale_bits,
        "security_bits": 128,
        "key_id": veil_core::hex(&sk.id().0),
    }))
}

fn ckks_json(t: &CkksTimes) -> serde_json::Value {
    json!({
        "encrypt_ms": t.encrypt_ms,
        "mul_relin_rescale_ms": t.mul_relin_rescale_ms,
        "rotate_ms": t.rotate_ms,
        "decrypt_ms": t.decrypt_ms,
    })
}

fn bench(args: &HeBenchArgs, json: bool) -> anyhow::Result<()> {
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
    if json {
        return report::json(&json!({
            "ckks": {"8192": ckks_json(&small), "16384": ckks_json(&large)},
            "paillier": {"2048": {
                "encrypt_ms": paillier.encrypt_ms,
                "decrypt_ms": paillier.decrypt_ms,
                "add_ms": paillier.add_ms,
            }},
        }));
    }
    println!("medians in ms          encrypt  mul+relin+rescale  rotate  decrypt");
    for (name, t) in [("CKKS N = 8192", &small), ("CKKS N = 16384", &large)] {
        println!(
            "{name:<20} {:>9.3} {:>18.3} {:>7.3} {:>8.3}",
            t.encrypt_ms, t.mul_relin_rescale_ms, t.rotate_ms, t.decrypt_ms
        );
    }
    println!(
        "Paillier-2048        {:>9.3}   (add {:.4})              {:>8.3}",
        paillier.encrypt_ms, paillier.add_ms, paillier.decrypt_ms
    );
    Ok(())
}
