//! `veil he bench`

use serde_json::json;
use veil_he::ckks::params::Parameters;
use veil_he::timing::{self, CkksTimes};

use crate::cli::{HeBenchArgs, HeCommand};
use crate::report;

pub fn run(cmd: &HeCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        HeCommand::Bench(args) => bench(args, json),
    }
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
