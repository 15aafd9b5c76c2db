//! `veil demo` — the main job on embedded data, end to end, with a short report.
//!
//! Today's stages: the breast-cancer table is split into training and test files; a logistic
//! regression is trained on one and tested on the other; the saved model file is read back
//! and must reproduce the same test metrics and predictions; an MLP learns the digits; and
//! the training data is sealed for a recipient, signed by the data owner, opened, and checked
//! byte for byte; every step is recorded in a provenance ledger, the model's lineage printed,
//! and its inclusion proof verified offline with nothing but the log's public key; and under
//! a privacy budget on the training file, a DP statistic is released with its interval and a
//! DP-SGD model trained with the ε it spent, both logged; five hospitals, each holding a
//! shard of the training file, train one model together over mutual TLS with secure
//! aggregation while a fifth of them drop out at random, and the model is tested on the
//! same test file and logged; and a clinic has the test file's records diagnosed by a
//! service that only ever sees them encrypted (CKKS), and checks the decrypted diagnoses
//! against the plaintext model's.

use std::path::Path;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use veil_core::Sha256Digest;
use veil_core::Table;
use veil_core::split::train_test_split;
use veil_ml::pipeline::{Columns, ModelConfig};
use veil_ml::{ModelKind, Predictions, model_file};
use veil_vault::{Identity, Keyring, SealOptions};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_ledger::manifest::subject_of;
use veil_ledger::merkle::leaf_hash;
use veil_ledger::{Entry, Ledger, NoteVerifier, TlogProof};

use super::ledger::lineage_tree;
use super::model::{FitRequest, dp_defaults, fit, print_evaluation, record_training};
use super::provenance::{self, Step};
use veil_dp::NoiseRng;
use veil_dp::accountant::Accountant;
use veil_dp::budget::BudgetStore;
use veil_dp::query::{Cell, QueryOptions, prepare};
use veil_dp::sgd::PrivateTraining;
use veil_fl::aggregate::Aggregator;
use veil_fl::coordinator::{Plan, SecurePlan};
use veil_fl::simulate::{Partition, Simulation, simulate};

use super::model::PRIVATE_STANDARDIZATION_NOISE;
use crate::cli::DemoArgs;
use crate::report;

const SEED: u64 = 42;

pub fn run(args: &DemoArgs, json: bool) -> anyhow::Result<()> {
    let temp;
    let dir: &Path = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            temp = tempfile::Builder::new().prefix("veil-demo-").tempdir()?;
            temp.path()
        }
    };
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let mut stages: Vec<Value> = Vec::new();

    // Stage 1: a diagnosis model on the breast-cancer data.
    say("── 1. Train and test a diagnosis model (builtin:breast-cancer) ──".into());
    let table = Table::load("builtin:breast-cancer")?;
    let labels = table.class_labels("malignant")?;
    let strata: Vec<usize> = labels.iter().map(|l| usize::from(l == "1")).collect();
    let split = train_test_split(table.num_rows(), Some(&strata), 0.2, SEED)?;
    let (train_csv, test_csv) = (
        dir.join("breast-cancer-train.csv"),
        dir.join("breast-cancer-test.csv"),
    );
    table.take(&split.train).save(&train_csv)?;
    table.take(&split.test).save(&test_csv)?;
    say(format!(
        "split 569 tumour records into {} training and {} test rows (stratified, seed {SEED})",
        split.train.len(),
        split.test.len()
    ));
    let model_path = dir.join("breast-cancer.model");
    let (train_s, test_s) = (train_csv.to_string_lossy(), test_csv.to_string_lossy());
    let bc_request = FitRequest {
        data: &train_s,
        test_data: Some(&test_s),
        columns: Columns {
            label: "malignant".into(),
            ..Default::default()
        },
        config: ModelConfig::defaults(Some(ModelKind::Logreg), SEED),
        test_fraction: 0.2,
        standardize: true,
        out: &model_path,
        dp: None,
    };
    let trained = fit(&bc_request, json)?;
    say(format!(
        "trained logistic regression in {:.2} s ({} epochs)",
        trained.seconds, trained.epochs
    ));
    if !json {
        print_evaluation("test", &trained.test);
    }

    // Stage 2: the model file alone reproduces the results on raw data.
    let reloaded = model_file::load(&model_path)?;
    let test_table = Table::load(&test_s)?;
    let again = reloaded.evaluate(&test_table)?;
    ensure!(
        again == trained.test,
        "the reloaded model's metrics differ from the trained model's"
    );
    let Predictions::Positive(p) = reloaded.predict(&test_table)? else {
        anyhow::bail!("a binary model gave non-binary predictions");
    };
    say(format!(
        "reloaded {} ({} bytes): same metrics; P(malignant) of the first three test tumours: {:.3}, {:.3}, {:.3}",
        model_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::fs::metadata(&model_path)?.len(),
        p[0],
        p[1],
        p[2]
    ));
    stages.push(json!({
        "stage": "train",
        "dataset": "builtin:breast-cancer",
        "model": "logreg",
        "train_rows": split.train.len(),
        "test_rows": split.test.len(),
        "test_accuracy": trained.test.accuracy,
        "test_auc": trained.test.auc,
        "reloaded_metrics_match": true,
    }));

    // Stage 3: an MLP on the digits.
    say("── 2. Train a neural network on handwritten digits (builtin:digits) ──".into());
    let digits_path = dir.join("digits.model");
    let digits_request = FitRequest {
        data: "builtin:digits",
        test_data: None,
        columns: Columns {
            label: "digit".into(),
            ..Default::default()
        },
        config: ModelConfig::defaults(Some(ModelKind::Mlp), SEED),
        test_fraction: 0.2,
        standardize: true,
        out: &digits_path,
        dp: None,
    };
    let digits = fit(&digits_request, json)?;
    say(format!(
        "trained MLP 64→64→10 ({} parameters) in {:.2} s",
        digits.model.network.num_params(),
        digits.seconds
    ));
    if !json {
        print_evaluation("test", &digits.test);
    }
    stages.push(json!({
        "stage": "train",
        "dataset": "builtin:digits",
        "model": "mlp",
        "test_accuracy": digits.test.accuracy,
    }));

    // Stage 4: seal the training data for a collaborator, signed by the data owner.
    say("── 3. Seal the training data for a collaborator (veil vault) ──".into());
    let (owner, collaborator) = (Identity::generate(), Identity::generate());
    let sealed_path = dir.join("breast-cancer-train.csv.veil");
    let recipients = [*collaborator.public()];
    let options = SealOptions {
        recipients: &recipients,
        signer: Some(&owner),
        ..Default::default()
    };
    let plain =
        std::fs::read(&train_csv).with_context(|| format!("reading {}", train_csv.display()))?;
    let summary = veil_core::atomic::write_atomic(&sealed_path, |w| -> anyhow::Result<_> {
        Ok(veil_vault::seal(&plain[..], w, &options)?)
    })?;
    let sealed = std::fs::read(&sealed_path)?;
    let keyring = Keyring {
        identities: vec![collaborator],
        passphrase: None,
    };
    let mut opened = Vec::new();
    let opened_summary =
        veil_vault::open(&sealed[..], &mut opened, &keyring, Some(owner.public()))?;
    ensure!(opened == plain, "the opened file differs from the original");
    let mut tampered = sealed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    let rejected = veil_vault::open(
        &tampered[..],
        &mut Vec::new(),
        &keyring,
        Some(owner.public()),
    )
    .is_err();
    ensure!(rejected, "a tampered sealed file was accepted");
    let digest = Sha256Digest::of_bytes(&plain);
    say(format!(
        "sealed {} bytes for collaborator {} (signed by owner {}); opened with the signature verified, \
         SHA-256 {}…; a one-bit change is rejected",
        summary.plaintext_len,
        recipients[0].key_id(),
        owner.public().key_id(),
        &digest.to_hex()[..16]
    ));
    stages.push(json!({
        "stage": "seal",
        "plaintext_bytes": summary.plaintext_len,
        "sealed_bytes": summary.sealed_len,
        "signature_verified": opened_summary.signature_verified,
        "round_trip_ok": true,
        "tamper_rejected": rejected,
    }));

    // Stage 5: every step above goes into a signed, append-only log.
    say("── 4. Record the provenance and verify it offline (veil ledger) ──".into());
    let ledger_dir = dir.join("provenance");
    let mut ledger = if ledger_dir.join("ledger.db").exists() {
        let mut ledger = Ledger::open(&ledger_dir)?;
        ensure!(ledger.load_key()?, "the demo's ledger key is protected");
        ledger
    } else {
        Ledger::init(&ledger_dir, "veil.demo/provenance")?
    };
    let split_index = provenance::record(
        &mut ledger,
        Step {
            kind: "transform",
            name: "stratified train/test split".into(),
            inputs: vec![provenance::data_subject("builtin:breast-cancer")?],
            outputs: vec![subject_of(&train_csv)?, subject_of(&test_csv)?],
            meta: vec![
                ("op".into(), "split".into()),
                ("seed".into(), SEED.to_string()),
                ("test_fraction".into(), "0.2".into()),
            ],
        },
    )?;
    let model_index = record_training(&mut ledger, &bc_request, &trained)?;
    record_training(&mut ledger, &digits_request, &digits)?;
    provenance::record(
        &mut ledger,
        Step {
            kind: "transform",
            name: "sealed training data".into(),
            inputs: vec![subject_of(&train_csv)?],
            outputs: vec![subject_of(&sealed_path)?],
            meta: vec![("op".into(), "seal".into())],
        },
    )?;
    let proof = ledger.prove(model_index)?;
    let proof_path = dir.join("breast-cancer.model.proof");
    let entry_path = dir.join("breast-cancer.model.entry");
    veil_core::atomic::write_atomic_bytes(&proof_path, proof.to_text().as_bytes())?;
    veil_core::atomic::write_atomic_bytes(&entry_path, &ledger.entry_bytes(model_index)?)?;
    let (tree, lineage_entries) = lineage_tree(&ledger, model_index)?;
    for line in tree.lines() {
        say(format!("  {line}"));
    }
    // What an auditor does, with the verifier key and three files, and no database.
    let verifier = NoteVerifier::parse(&std::fs::read_to_string(ledger_dir.join("log.vkey"))?)?;
    let entry_bytes = std::fs::read(&entry_path)?;
    let checkpoint = TlogProof::parse(&std::fs::read_to_string(&proof_path)?)?
        .verify(&verifier, &leaf_hash(&entry_bytes))?;
    let entry = Entry::decode(&entry_bytes)?;
    let model_digest = subject_of(&model_path)?.sha256;
    ensure!(
        entry.subjects.iter().any(|s| s.sha256 == model_digest),
        "the proven entry is not about the model file"
    );
    let forged = veil_core::Sha256Digest::of_bytes(b"a poisoned model").0;
    ensure!(
        !entry.subjects.iter().any(|s| s.sha256 == forged),
        "a different model matched the proven entry"
    );
    ensure!(
        ledger.audit(&verifier, &[])?.is_none(),
        "the ledger audit failed"
    );
    say(format!(
        "model entry {model_index} is in log {} ({} entries, root {}…): proof verified offline \
         with log.vkey alone; the split is entry {split_index}; the audit recomputed every hash",
        checkpoint.origin,
        checkpoint.size,
        &B64.encode(checkpoint.root)[..16]
    ));
    stages.push(json!({
        "stage": "provenance",
        "entries": checkpoint.size,
        "model_index": model_index,
        "lineage_entries": lineage_entries,
        "verified_offline": true,
        "audit_ok": true,
    }));

    // Stage 6: statistics and a model with differential privacy, under a budget.
    say(
        "── 5. Release a statistic and train a model with differential privacy (veil dp) ──".into(),
    );
    stages.push(private_stage(dir, &train_s, &test_s, &mut ledger, &say)?);

    // Stage 7: federated training across hospitals with secure aggregation.
    say(
        "── 6. Train across five hospitals without pooling their records (veil fl, secure aggregation) ──"
            .into(),
    );
    let central = trained.test.accuracy;
    stages.push(federated_stage(
        dir,
        (&train_s, &test_s),
        central,
        &mut ledger,
        &say,
    )?);

    // Stage 8: a diagnosis computed on encrypted records.
    say(
        "── 7. Diagnose encrypted records on a service that never sees them (veil he, CKKS) ──"
            .into(),
    );
    stages.push(encrypted_stage(dir, &model_path, &test_s, &say)?);

    let kept = args.dir.is_some();
    say(if kept {
        format!("files are in {}", dir.display())
    } else {
        "done; the temporary files have been removed".into()
    });
    if json {
        report::json(&json!({
            "ok": true,
            "dir": if kept { json!(dir) } else { Value::Null },
            "stages": stages,
        }))?;
    }
    Ok(())
}

/// The federated stage: the training file dealt to five hospitals by a Dirichlet(0.5) draw
/// over the classes (so their case mixes differ), a coordinator and the five clients on
/// loopback over mutual TLS, FedAvg under secure aggregation for 20 rounds while each
/// hospital drops out of a round with probability 0.2; the model is tested on the demo's
/// test file beside the centrally trained one (`central`, stage 1), saved and logged.
fn federated_stage(
    dir: &Path,
    (train, test): (&str, &str),
    central: Option<f64>,
    ledger: &mut Ledger,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    let plan = Plan {
        kind: ModelKind::Logreg,
        hidden: Vec::new(),
        activation: veil_ml::Activation::Relu,
        rounds: 20,
        clients_per_round: 5,
        min_clients: 5,
        local_epochs: 5,
        lr: 0.1,
        batch_size: 16,
        answer_timeout: std::time::Duration::from_secs(60),
        seed: SEED,
        mu: 0.0,
        aggregator: Aggregator::Mean,
        secure: Some(SecurePlan {
            threshold: None,
            neighbours: None,
            dp: None,
            clip: 10.0,
        }),
    };
    let sim = Simulation {
        data: train.to_string(),
        label: "malignant".into(),
        plan,
        clients: 5,
        partition: Partition::Dirichlet(0.5),
        seed: SEED,
        dropout: 0.2,
    };
    let r = super::fl::runtime()?.block_on(simulate(&sim))?;
    let on_test = r.model.evaluate(&Table::load(test)?)?;
    let model_path = dir.join("breast-cancer-federated.model");
    model_file::save(&r.model, &model_path)?;
    let model_spec = model_path.display().to_string();
    let index = provenance::record(
        ledger,
        Step {
            kind: "model",
            name: "FedAvg with secure aggregation over five hospitals".into(),
            inputs: vec![provenance::data_subject(train)?],
            outputs: vec![provenance::file_subject(&model_spec)?],
            meta: vec![
                ("clients".into(), "5".into()),
                ("rounds".into(), r.rounds.to_string()),
                ("aborted_rounds".into(), r.aborted_rounds.to_string()),
                ("secure_aggregation".into(), "true".into()),
            ],
        },
    )?;
    say(format!(
        "hospitals hold {:?} rows; {} rounds, {} aborted when too many dropped out (nothing revealed), {} dropouts; {:.0} KB sent per hospital",
        r.shard_rows,
        r.rounds,
        r.aborted_rounds,
        r.dropped_clients,
        r.bytes_sent_per_client / 1e3
    ));
    say(format!(
        "federated model: test accuracy {} on the test file (the model trained on the pooled file in stage 1: {}); ledger entry {index}",
        report::metric(on_test.accuracy),
        report::metric(central),
    ));
    Ok(json!({
        "stage": "federated",
        "clients": 5,
        "rounds": r.rounds,
        "aborted_rounds": r.aborted_rounds,
        "dropped_clients": r.dropped_clients,
        "secure_aggregation": true,
        "test_accuracy": on_test.accuracy,
        "centralised_test_accuracy": central,
        "bytes_sent_per_client": r.bytes_sent_per_client,
        "ledger_entry": index,
    }))
}

/// The encrypted-inference stage: the clinic makes a CKKS key set (N = 8192, 128-bit
/// security); the stage-1 model is served over mutual TLS on loopback; the clinic encrypts
/// the test file's records, the service scores the ciphertexts, and the clinic's decrypted
/// diagnoses are compared with the plaintext model's.
fn encrypted_stage(
    dir: &Path,
    model_path: &Path,
    test: &str,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    use veil_he::service::{InferenceOptions, Service, infer};
    use veil_net::pki::{self, Extra};
    use veil_net::transport::{bind, connect, server, spawn};
    use veil_net::{Limits, TlsIdentity};

    let keys = dir.join("clinic-keys");
    std::fs::create_dir_all(&keys).map_err(|e| veil_core::Error::io(&keys, e))?;
    super::he::write_ckks_keys(&keys, veil_he::ckks::params::Parameters::n8192())?;
    let pki_dir = dir.join("he-pki");
    pki::init(&pki_dir, true)?;
    let loopback = Extra {
        dns: vec![],
        ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
    };
    pki::issue(&pki_dir, "scorer", &loopback, true)?;
    pki::issue(&pki_dir, "clinic", &Extra::default(), true)?;
    let model = model_file::load(model_path)?;
    let table = Table::load(test)?;
    let Predictions::Positive(plain) = model.predict(&table)? else {
        anyhow::bail!("a binary model gave non-binary predictions");
    };
    let limits = Limits::default();
    let service = Service::new(&model, limits.max_message_bytes)?;
    let options = InferenceOptions {
        scheme: veil_he::circuit::Scheme::Ckks,
        keys: keys.clone(),
        max_message_bytes: limits.max_message_bytes,
        layout: veil_he::service::LayoutChoice::Auto,
    };
    let result = super::fl::runtime()?.block_on(async {
        let incoming = bind((std::net::Ipv4Addr::LOCALHOST, 0).into())?;
        let addr = incoming
            .local_addr()
            .map_err(|e| veil_core::Error::io(Path::new("127.0.0.1"), e))?
            .to_string();
        let router = server(&TlsIdentity::load(&pki_dir, "scorer")?, &limits)?
            .add_service(service.service());
        let serving = spawn(router, incoming);
        let clinic = TlsIdentity::load(&pki_dir, "clinic")?;
        let channel = connect(&addr, "127.0.0.1", &clinic, &limits).await?;
        let result = infer(channel, &table, &options).await;
        serving.stop(std::time::Duration::from_secs(2)).await;
        anyhow::Ok(result?)
    })?;
    let Predictions::Positive(encrypted) = &result.predictions else {
        anyhow::bail!("the service gave non-binary predictions");
    };
    let same_classes = result.predicted == Predictions::Positive(plain.clone()).labels(&model.task);
    let max_difference = encrypted
        .iter()
        .zip(&plain)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    ensure!(
        same_classes && max_difference < 1e-3,
        "the encrypted diagnoses differ from the plaintext ones (by up to {max_difference:.2e})"
    );
    say(format!(
        "the service scored {} encrypted records in {:.2} s ({:.1} MB of ciphertext up, {:.2} MB down) and saw no feature or score",
        result.rows,
        result.seconds,
        result.bytes_sent as f64 / 1e6,
        result.bytes_received as f64 / 1e6
    ));
    say(format!(
        "first patient: P(malignant) {:.4} decrypted by the clinic, {:.4} in the clear; all {} diagnoses identical, probabilities within {max_difference:.1e}",
        encrypted[0], plain[0], result.rows
    ));
    Ok(json!({
        "stage": "encrypted_inference",
        "scheme": "ckks",
        "poly_degree": 8192,
        "security_bits": 128,
        "rows": result.rows,
        "diagnoses_identical": same_classes,
        "max_probability_difference": max_difference,
        "first_patient": {"encrypted": encrypted[0], "plaintext": plain[0]},
        "bytes_sent": result.bytes_sent,
        "bytes_received": result.bytes_received,
        "seconds": result.seconds,
    }))
}

/// The privacy stage: a budget of ε = 3, δ = 10^-5 on the training file; a DP query (ε = 0.5)
/// with its intervals beside the exact values; a DP-SGD logistic regression (ε = 2); both
/// charged before any noise and logged as ledger entries.
fn private_stage(
    dir: &Path,
    train: &str,
    test: &str,
    ledger: &mut Ledger,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    let dataset = provenance::data_subject(train)?;
    let digest = veil_core::hex(&dataset.sha256);
    let mut budget = BudgetStore::open(&dir.join("dp-budget"))?;
    // Each run grants the file 3 more ε (a kept demo directory remembers earlier runs).
    let earlier = budget.show(&digest)?;
    let (spent_e, spent_d) = earlier
        .as_ref()
        .map_or((0.0, 0.0), |b| (b.spent_epsilon, b.spent_delta));
    if spent_e > 0.0 {
        say(format!(
            "earlier demo runs spent ε = {spent_e} of this file's budget; this run adds 3"
        ));
    }
    budget.set(&digest, train, spent_e + 3.0, spent_d + 1e-5)?;
    let table = Table::load(train)?;
    let sql = "SELECT malignant, COUNT(*) AS tumours, AVG(radius_mean) AS mean_radius \
               FROM data GROUP BY malignant";
    let options = QueryOptions {
        epsilon: 0.5,
        bounds: vec![("radius_mean".into(), 5.0, 30.0)],
        keys: vec![("malignant".into(), vec!["0".into(), "1".into()])],
        ..QueryOptions::default()
    };
    let query = prepare(sql, &table, &options)?;
    let (eps, delta) = query.cost();
    budget.charge(&digest, eps, delta, "dp-query", sql)?;
    let release = query.release(&mut NoiseRng::from_os())?;
    say(format!(
        "{sql}\n  (ε = {eps}, each row one tumour; exact values shown for comparison only)"
    ));
    let radius = table.numeric_column("radius_mean", veil_core::Role::Feature)?;
    let labels = table.class_labels("malignant")?;
    let mut rows = Vec::new();
    for row in &release.rows {
        let [
            Cell::Key(Some(key)),
            Cell::Estimate {
                value: n,
                ci95: n_ci,
            },
            Cell::Estimate {
                value: r,
                ci95: r_ci,
            },
        ] = row.as_slice()
        else {
            anyhow::bail!("the demo query returned an unexpected row");
        };
        let mine: Vec<f64> = radius
            .iter()
            .zip(&labels)
            .filter(|(_, l)| *l == key)
            .map(|(x, _)| *x)
            .collect();
        let exact_mean = mine.iter().sum::<f64>() / mine.len().max(1) as f64;
        say(format!(
            "  malignant={key}: {n:.0} tumours [{:.0}, {:.0}] (exact {}); mean radius {r:.2} [{:.2}, {:.2}] (exact {exact_mean:.2})",
            n_ci.0,
            n_ci.1,
            mine.len(),
            r_ci.0,
            r_ci.1
        ));
        rows.push(
            json!({"malignant": key, "tumours": n, "tumours_ci95": [n_ci.0, n_ci.1],
                         "mean_radius": r, "mean_radius_ci95": [r_ci.0, r_ci.1]}),
        );
    }
    provenance::record(
        ledger,
        Step {
            kind: "dp-release",
            name: "DP query on the training split".into(),
            inputs: vec![dataset.clone()],
            outputs: Vec::new(),
            meta: vec![
                ("sql".into(), sql.into()),
                ("epsilon".into(), eps.to_string()),
                ("release".into(), Value::Array(rows.clone()).to_string()),
            ],
        },
    )?;

    let mut config = ModelConfig::defaults(Some(ModelKind::Logreg), SEED);
    dp_defaults(&mut config);
    let (target, dp_delta) = (2.0, 1e-5);
    budget.charge(
        &digest,
        target,
        dp_delta,
        "dp-sgd",
        "demo: logistic regression",
    )?;
    let model_path = dir.join("breast-cancer-dp.model");
    let request = FitRequest {
        data: train,
        test_data: Some(test),
        columns: Columns {
            label: "malignant".into(),
            ..Default::default()
        },
        config: config.clone(),
        test_fraction: 0.2,
        standardize: true,
        out: &model_path,
        dp: Some(PrivateTraining {
            model: config,
            clip: 1.0,
            epsilon: target,
            delta: dp_delta,
            noise_multiplier: None,
            accountant: Accountant::Pld,
            standardization: Some(PRIVATE_STANDARDIZATION_NOISE),
        }),
    };
    let trained = fit(&request, true)?;
    let privacy = trained
        .privacy
        .as_ref()
        .context("DP-SGD reported no privacy spent")?;
    let index = record_training(ledger, &request, &trained)?;
    let left = budget.show(&digest)?.context("the budget vanished")?;
    let refused = budget.charge(&digest, 1.0, 0.0, "dp-query", "one query too many");
    ensure!(
        matches!(refused, Err(veil_dp::Error::BudgetExceeded { .. })),
        "a query beyond the budget was not refused"
    );
    say(format!(
        "DP-SGD logistic regression: test accuracy {} at ε = {:.3}, δ = {} ({} steps, noise multiplier {:.3}); \
         ledger entry {index}",
        report::metric(trained.test.accuracy),
        privacy.epsilon,
        privacy.delta,
        privacy.steps,
        privacy.noise_multiplier
    ));
    say(format!(
        "budget of the training file: ε {:.2} of {} spent, {:.2} left; a further ε = 1 query is refused before any noise",
        left.spent_epsilon - spent_e,
        left.epsilon - spent_e,
        left.remaining_epsilon()
    ));
    Ok(json!({
        "stage": "privacy",
        "query": {"sql": sql, "epsilon": eps, "rows": rows},
        "dp_sgd": {
            "test_accuracy": trained.test.accuracy, "epsilon_spent": privacy.epsilon,
            "delta": privacy.delta, "noise_multiplier": privacy.noise_multiplier,
            "steps": privacy.steps,
        },
        "budget": {"epsilon": left.epsilon - spent_e, "spent_epsilon": left.spent_epsilon - spent_e,
                   "remaining_epsilon": left.remaining_epsilon(), "over_budget_refused": true},
    }))
}
