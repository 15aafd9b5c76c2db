//! `veil he keygen | bench`

use std::path::Path;

use serde_json::json;
use veil_core::atomic::{Visibility, write_atomic_bytes_with};
use veil_he::ckks::keys::SecretKey as CkksSecretKey;
use veil_he::ckks::params::{Context, Parameters};
use veil_he::paillier;
use veil_he::timing::{self, CkksTimes};

use crate::cli::{HeBenchArgs, HeCommand, HeKeygenArgs};
use crate::report;

pub fn run(cmd: &HeCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        HeCommand::Keygen(args) => keygen(args, json),
        HeCommand::Bench(args) => bench(args, json),
    }
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
    let write =
        |path: &Path, visibility, bytes: &[u8]| write_atomic_bytes_with(path, visibility, bytes);
    let summary = if args.scheme == "ckks" {
        let params = match args.poly_degree {
            16384 => Parameters::n16384(),
            _ => Parameters::n8192(),
        };
        let ctx = Context::new(params.clone())?;
        let sk = CkksSecretKey::generate(&ctx);
        let pk = sk.public_key()?;
        let eval = sk.evaluation_keys()?;
        write(&paths[0], Visibility::Secret, &sk.to_bytes())?;
        write(&paths[1], Visibility::Public, &pk.to_bytes())?;
        write(&paths[2], Visibility::Public, &eval.to_bytes(&ctx))?;
        json!({
            "scheme": "ckks",
            "poly_degree": params.degree,
            "coeff_modulus_bits": params.chain,
            "scale_bits": params.scale_bits,
            "security_bits": 128,
            "key_id": veil_core::hex(&sk.id().0),
        })
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
