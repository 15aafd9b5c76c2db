//! `veil demo` — the main job on embedded data, end to end, with a short report.
//!
//! The breast-cancer table is split into training and test files; a logistic regression is
//! trained on one and tested on the other, and the saved model file must reproduce the same
//! metrics; an MLP learns the digits; the training data is sealed for a collaborator, signed
//! by the data owner, opened with the signature checked first, and a one-bit change refused;
//! every step is recorded in a provenance ledger, the model's lineage drawn and its proof
//! verified offline with nothing but the log's public key; under a privacy budget on the
//! training file, a DP statistic is released and a DP-SGD model trained, and a release beyond
//! the budget refused; five hospitals train one model over mutual TLS with secure
//! aggregation while some drop out; and a clinic has the test records diagnosed by a service
//! that only sees them encrypted (CKKS). Each stage calls the library functions the commands
//! call; each check is a field of the report, and the demo fails when one does not hold.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use veil_core::Table;
use veil_core::split::split_table;
use veil_dp::budget::{Accounting, BudgetStore, BudgetUnit};
use veil_dp::query::{Cell, QueryOptions};
use veil_dp::sgd::{Noise, PrivateTraining};
use veil_dp::{NoiseRng, PrivacyLoss};
use veil_fl::aggregate::Aggregator;
use veil_fl::coordinator::{Plan, SecurePlan};
use veil_fl::simulate::{Partition, Simulation, simulate};
use veil_ledger::manifest::subject_of;
use veil_ledger::{Keyed, Ledger, Lineage, Step, Subject, TlogProof};
use veil_ml::pipeline::{self, Columns, FitRequest, ModelConfig};
use veil_ml::{ModelKind, Predictions, model_file};
use veil_vault::{Identity, Keyring, SealOptions};

use super::model::{print_evaluation, training_step};
use super::runtime;
use crate::cli::DemoArgs;
use crate::report::{metric, show};

const SEED: u64 = 42;

/// What `veil demo` reports: each stage's numbers and checks, and whether every check held.
#[derive(Serialize)]
struct DemoReport {
    ok: bool,
    dir: Option<std::path::PathBuf>,
    stages: Vec<Value>,
    #[serde(skip)]
    failed: Vec<&'static str>,
}

impl DemoReport {
    /// Records a check: the demo fails (after its report) when one does not hold.
    fn check(&mut self, holds: bool, what: &'static str) -> bool {
        if !holds {
            self.failed.push(what);
        }
        holds
    }
}

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
    let mut report = DemoReport {
        ok: true,
        dir: args.dir.clone(),
        stages: Vec::new(),
        failed: Vec::new(),
    };

    say("── 1. Train and test a diagnosis model (builtin:breast-cancer) ──".into());
    let (train_csv, test_csv) = (
        dir.join("breast-cancer-train.csv"),
        dir.join("breast-cancer-test.csv"),
    );
    let table = Table::load("builtin:breast-cancer")?;
    let split = split_table(
        &table,
        Some("malignant"),
        0.2,
        SEED,
        (&train_csv, &test_csv),
    )?;
    say(format!(
        "split {} tumour records into {} training and {} test rows (stratified, seed {SEED})",
        table.num_rows(),
        split.train_rows,
        split.test_rows
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
        test_fraction: None,
        standardize: true,
        out: &model_path,
    };
    let trained = pipeline::fit(&bc_request, |_| {})?;
    say(format!(
        "trained logistic regression in {:.2} s ({} epochs)",
        trained.summary.train_seconds, trained.summary.epochs
    ));
    if let (false, Some(test)) = (json, &trained.test) {
        print_evaluation("test", test);
    }
    // The model file alone reproduces the results on raw data.
    let reloaded = pipeline::evaluate(&model_path, &test_s, None)?;
    let same = report.check(
        trained.test.as_ref() == Some(&reloaded.evaluation),
        "the reloaded model's metrics are the trained model's",
    );
    let model = model_file::load(&model_path)?;
    let Predictions::Positive(p) = model.predict(&Table::load(&test_s)?)? else {
        anyhow::bail!("a binary model gave non-binary predictions");
    };
    say(format!(
        "reloaded {} ({} bytes): {}; P(malignant) of the first three test tumours: {:.3}, {:.3}, {:.3}",
        model_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::fs::metadata(&model_path)?.len(),
        if same {
            "same metrics"
        } else {
            "DIFFERENT metrics"
        },
        p[0],
        p[1],
        p[2]
    ));
    report.stages.push(json!({
        "stage": "train", "dataset": "builtin:breast-cancer", "model": "logreg",
        "train_rows": split.train_rows, "test_rows": split.test_rows,
        "test_accuracy": trained.metrics.test_accuracy, "test_auc": trained.metrics.test_auc,
        "reloaded_metrics_match": same,
    }));

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
        test_fraction: Some(0.2),
        standardize: true,
        out: &digits_path,
    };
    let digits = pipeline::fit(&digits_request, |_| {})?;
    say(format!(
        "trained MLP 64→64→10 ({} parameters) in {:.2} s",
        digits.summary.parameters, digits.summary.train_seconds
    ));
    if let (false, Some(test)) = (json, &digits.test) {
        print_evaluation("test", test);
    }
    report.stages.push(json!({
        "stage": "train", "dataset": "builtin:digits", "model": "mlp",
        "test_accuracy": digits.metrics.test_accuracy,
    }));

    say("── 3. Seal the training data for a collaborator (veil vault) ──".into());
    let (owner, collaborator) = (Identity::generate(), Identity::generate());
    let sealed_path = dir.join("breast-cancer-train.csv.veil");
    let recipients = [*collaborator.public()];
    let options = SealOptions {
        recipients: &recipients,
        signer: Some(&owner),
        ..Default::default()
    };
    let plain = std::fs::read(&train_csv).map_err(|e| veil_core::Error::io(&train_csv, e))?;
    let summary = veil_core::atomic::write_atomic(&sealed_path, |w| -> anyhow::Result<_> {
        Ok(veil_vault::seal(&plain[..], w, &options)?)
    })?;
    let sealed = std::fs::read(&sealed_path).map_err(|e| veil_core::Error::io(&sealed_path, e))?;
    let keyring = Keyring {
        identities: vec![collaborator],
        passphrase: None,
    };
    let open = |bytes: &[u8]| {
        let mut out = Vec::new();
        veil_vault::open_verified(
            std::io::Cursor::new(bytes),
            &mut out,
            &keyring,
            owner.public(),
        )
        .map(|s| (s, out))
    };
    let (opened, round_trip) = open(&sealed)?;
    let round_trip_ok = report.check(round_trip == plain, "the opened file is the original");
    let mut tampered = sealed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    let rejected = report.check(open(&tampered).is_err(), "a one-bit change is refused");
    say(format!(
        "sealed {} bytes for collaborator {} (signed by owner {}); opened with the signature verified first, \
         SHA-256 {}…; a one-bit change is {}",
        summary.plaintext_len,
        recipients[0].key_id(),
        owner.public().key_id(),
        &veil_core::Sha256Digest::of_bytes(&round_trip).to_hex()[..16],
        if rejected { "rejected" } else { "ACCEPTED" }
    ));
    report.stages.push(json!({
        "stage": "seal", "plaintext_bytes": summary.plaintext_len,
        "sealed_bytes": summary.sealed_len, "signature_verified": opened.signature_verified,
        "round_trip_ok": round_trip_ok, "tamper_rejected": rejected,
    }));

    say("── 4. Record the provenance and verify it offline (veil ledger) ──".into());
    let ledger_dir = dir.join("provenance");
    let mut ledger = if ledger_dir.join("ledger.db").exists() {
        let mut ledger = Ledger::open(&ledger_dir)?;
        anyhow::ensure!(ledger.load_key()?, "the demo's ledger key is protected");
        ledger
    } else {
        Ledger::init(&ledger_dir, "veil.demo/provenance")?
    };
    let record = |ledger: &mut Ledger, step: Step| veil_ledger::lineage::record(ledger, step);
    let split_index = record(
        &mut ledger,
        Step {
            kind: "transform",
            name: "stratified train/test split".into(),
            inputs: vec![Subject::of_source("builtin:breast-cancer")?],
            outputs: vec![subject_of(&train_csv)?, subject_of(&test_csv)?],
            keyed: Keyed::Both,
            meta: vec![
                ("op".into(), "split".into()),
                ("seed".into(), SEED.to_string()),
                ("test_fraction".into(), "0.2".into()),
            ],
        },
    )?;
    let model_index = record(
        &mut ledger,
        training_step(&bc_request, trained.provenance())?,
    )?;
    record(
        &mut ledger,
        training_step(&digits_request, digits.provenance())?,
    )?;
    record(
        &mut ledger,
        Step {
            kind: "transform",
            name: "sealed training data".into(),
            inputs: vec![subject_of(&train_csv)?],
            outputs: vec![subject_of(&sealed_path)?],
            meta: vec![("op".into(), "seal".into())],
            keyed: Keyed::Inputs,
        },
    )?;
    let proof_path = dir.join("breast-cancer.model.proof");
    let entry_path = dir.join("breast-cancer.model.entry");
    veil_core::atomic::write_atomic_bytes(
        &proof_path,
        ledger.inclusion(model_index)?.proof.as_bytes(),
    )?;
    veil_core::atomic::write_atomic_bytes(&entry_path, &ledger.entry_bytes(model_index)?)?;
    let lineage = Lineage::of(&ledger, model_index)?;
    for line in lineage.tree().lines() {
        say(format!("  {line}"));
    }
    // What an auditor does, with the verifier key and three files, and no database.
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| veil_core::Error::io(p, e));
    let verifier = veil_ledger::NoteVerifier::parse(&read(&ledger_dir.join("log.vkey"))?)?;
    let entry_bytes =
        std::fs::read(&entry_path).map_err(|e| veil_core::Error::io(&entry_path, e))?;
    let proof = TlogProof::parse(&read(&proof_path)?)?;
    let verified = veil_ledger::verify_offline(
        &verifier,
        &proof,
        &entry_bytes,
        std::slice::from_ref(&model_path),
        None,
    );
    let verified_offline = report.check(verified.is_ok(), "the model's proof verifies offline");
    let poisoned = dir.join("poisoned.model");
    std::fs::write(&poisoned, b"a poisoned model")
        .map_err(|e| veil_core::Error::io(&poisoned, e))?;
    report.check(
        veil_ledger::verify_offline(&verifier, &proof, &entry_bytes, &[poisoned], None).is_err(),
        "another model does not match the proven entry",
    );
    let audit = ledger.audit_report(&verifier, &[])?;
    let audit_ok = report.check(audit.ok, "the audit passes");
    say(format!(
        "model entry {model_index} is in log {} ({} entries): proof verified offline with log.vkey \
         alone; the split is entry {split_index}; the audit recomputed every hash",
        verifier.name(),
        audit.size,
    ));
    report.stages.push(json!({
        "stage": "provenance", "entries": audit.size, "model_index": model_index,
        "lineage_entries": lineage.entries.len(), "verified_offline": verified_offline,
        "audit_ok": audit_ok,
    }));

    say(
        "── 5. Release a statistic and train a model with differential privacy (veil dp) ──".into(),
    );
    let stage = private_stage(dir, (&train_s, &test_s), &mut ledger, &mut report, &say)?;
    report.stages.push(stage);

    say("── 6. Train across five hospitals without pooling their records (veil fl, secure aggregation) ──".into());
    let stage = federated_stage(
        dir,
        (&train_s, &test_s),
        trained.metrics.test_accuracy,
        &mut ledger,
        &say,
    )?;
    report.stages.push(stage);

    say(
        "── 7. Diagnose encrypted records on a service that never sees them (veil he, CKKS) ──"
            .into(),
    );
    let stage = encrypted_stage(dir, &model_path, &test_s, &mut report, &say)?;
    report.stages.push(stage);

    say(if args.dir.is_some() {
        format!("files are in {}", dir.display())
    } else {
        "done; the temporary files have been removed".into()
    });
    report.ok = report.failed.is_empty();
    show(json, &report, |_| {})?;
    if !report.ok {
        anyhow::bail!("the demo's checks failed: {}", report.failed.join("; "));
    }
    Ok(())
}

/// A budget of ε = 3, δ = 10⁻⁵ on the training file; a DP query (ε = 0.5) with its intervals
/// beside the exact values; a DP-SGD logistic regression (ε = 2); both charged before any
/// noise and logged; then a query beyond what is left is refused.
fn private_stage(
    dir: &Path,
    (train, test): (&str, &str),
    ledger: &mut Ledger,
    report: &mut DemoReport,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    let table = Table::load(train)?;
    // Budgets are never reset: a kept demo directory gets the next free budget directory.
    let (mut budget_dir, mut n) = (dir.join("dp-budget"), 1);
    while BudgetStore::open(&budget_dir)?.show(&table)?.is_some() {
        n += 1;
        budget_dir = dir.join(format!("dp-budget-{n}"));
    }
    let mut store = BudgetStore::open(&budget_dir)?;
    say(format!("privacy budget kept in {}", budget_dir.display()));
    let grant = PrivacyLoss::target(3.0, 1e-5)?;
    store.set(&table, train, grant, BudgetUnit::Row)?;
    let sql = "SELECT malignant, COUNT(*) AS tumours, AVG(radius_mean) AS mean_radius \
               FROM data GROUP BY malignant";
    let options = QueryOptions {
        epsilon: 0.5,
        bounds: vec![("radius_mean".into(), 5.0, 30.0)],
        keys: vec![("malignant".into(), vec!["0".into(), "1".into()])],
        ..QueryOptions::default()
    };
    let release = veil_dp::query::run(
        sql,
        &table,
        &options,
        Accounting::Budget(&mut store),
        &mut NoiseRng::from_os(),
    )?;
    say(format!(
        "{sql}\n  (ε = {}, each row one tumour; exact values shown for comparison only)",
        release.loss.epsilon()
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
    veil_ledger::lineage::record(
        ledger,
        Step {
            kind: "dp-release",
            name: "DP query on the training split".into(),
            inputs: vec![Subject::of_source(train)?],
            outputs: Vec::new(),
            meta: release.provenance(sql),
            keyed: Keyed::Inputs,
        },
    )?;

    let config = veil_dp::sgd::defaults(Some(ModelKind::Logreg), SEED);
    let model_path = dir.join("breast-cancer-dp.model");
    let request = FitRequest {
        data: train,
        test_data: Some(test),
        columns: Columns {
            label: "malignant".into(),
            ..Default::default()
        },
        config,
        test_fraction: None,
        standardize: true,
        out: &model_path,
    };
    let private = PrivateTraining::new(Noise::Target(PrivacyLoss::target(2.0, 1e-5)?));
    let trained = veil_dp::sgd::fit(
        &request,
        &private,
        Accounting::Budget(&mut store),
        &mut NoiseRng::from_os(),
        |_| {},
    )?;
    let index =
        veil_ledger::lineage::record(ledger, training_step(&request, trained.provenance())?)?;
    let one_more = QueryOptions {
        epsilon: 1.0,
        ..options.clone()
    };
    let refused = veil_dp::query::run(
        sql,
        &table,
        &one_more,
        Accounting::Budget(&mut store),
        &mut NoiseRng::from_os(),
    );
    let over_budget_refused = report.check(
        matches!(refused, Err(veil_dp::Error::BudgetExceeded { .. })),
        "a query beyond the budget is refused before any noise",
    );
    let left = store.show(&table)?.context("the budget vanished")?;
    let this_run = left.spent;
    say(format!(
        "DP-SGD logistic regression: test accuracy {} at ε = {:.3}, δ = {} ({} steps, noise multiplier {:.3}); \
         ledger entry {index}",
        metric(trained.test.as_ref().and_then(|t| t.test_accuracy)),
        trained.epsilon_spent,
        trained.delta,
        trained.steps,
        trained.noise_multiplier
    ));
    say(format!(
        "budget of the training file: ε {:.2} of 3 spent, {:.2} left; a further ε = 1 query is {}",
        this_run.epsilon(),
        left.remaining().epsilon(),
        if over_budget_refused {
            "refused before any noise"
        } else {
            "NOT refused"
        }
    ));
    Ok(json!({
        "stage": "privacy",
        "query": {"sql": sql, "epsilon": release.loss.epsilon(), "rows": rows},
        "dp_sgd": {
            "test_accuracy": trained.test.as_ref().and_then(|t| t.test_accuracy), "epsilon_spent": trained.epsilon_spent,
            "delta": trained.delta, "noise_multiplier": trained.noise_multiplier, "steps": trained.steps,
        },
        "budget": {"epsilon": grant.epsilon(), "spent_epsilon": this_run.epsilon(),
                   "remaining_epsilon": left.remaining().epsilon(), "over_budget_refused": over_budget_refused},
    }))
}

/// The training file dealt to five hospitals by a Dirichlet(0.5) draw over the classes (so
/// their case mixes differ), a coordinator and the five clients on loopback over mutual TLS,
/// FedAvg under secure aggregation for 20 rounds while each hospital drops out of a round
/// with probability 0.2; the model is tested on the test file, saved and logged.
fn federated_stage(
    dir: &Path,
    (train, test): (&str, &str),
    central: Option<f64>,
    ledger: &mut Ledger,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    let plan = Plan {
        clients_per_round: 5,
        min_clients: 5,
        answer_timeout: std::time::Duration::from_secs(60),
        seed: SEED,
        aggregator: Aggregator::Unweighted,
        secure: Some(SecurePlan::default()),
        ..Plan::default()
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
    let r = runtime()?.block_on(simulate(&sim))?;
    let on_test = r.model.evaluate(&Table::load(test)?)?;
    let model_path = dir.join("breast-cancer-federated.model");
    model_file::save(&r.model, &model_path)?;
    let index = veil_ledger::lineage::record(
        ledger,
        Step {
            kind: "model",
            name: "FedAvg with secure aggregation over five hospitals".into(),
            inputs: vec![Subject::of_source(train)?],
            outputs: vec![subject_of(&model_path)?],
            keyed: Keyed::Inputs,
            meta: vec![
                ("clients".into(), "5".into()),
                ("rounds".into(), r.rounds.to_string()),
                ("aborted_rounds".into(), r.aborted_rounds.to_string()),
                ("secure_aggregation".into(), "true".into()),
            ],
        },
    )?;
    say(format!(
        "hospitals hold {:?} rows; {} rounds, of which {} aborted because too few hospitals were left \
         to unmask the sum (nothing was revealed in them); {} dropouts; {:.0} KB sent per hospital",
        r.shard_rows,
        r.rounds,
        r.aborted_rounds,
        r.dropped_clients,
        r.bytes_sent_per_client / 1e3
    ));
    say(format!(
        "federated model: test accuracy {} on the test file (the model trained on the pooled file in stage 1: {}); ledger entry {index}",
        metric(on_test.accuracy),
        metric(central),
    ));
    Ok(json!({
        "stage": "federated", "clients": 5, "rounds": r.rounds, "aborted_rounds": r.aborted_rounds,
        "dropped_clients": r.dropped_clients, "secure_aggregation": true,
        "test_accuracy": on_test.accuracy, "centralised_test_accuracy": central,
        "bytes_sent_per_client": r.bytes_sent_per_client, "ledger_entry": index,
    }))
}

/// The clinic makes a CKKS key set (N = 8192, 128-bit security); the stage-1 model is served
/// over mutual TLS on loopback; the clinic encrypts the test records, the service scores the
/// ciphertexts, and the decrypted diagnoses are compared with the plaintext model's.
fn encrypted_stage(
    dir: &Path,
    model_path: &Path,
    test: &str,
    report: &mut DemoReport,
    say: &dyn Fn(String),
) -> anyhow::Result<Value> {
    use veil_he::service::{InferenceOptions, LayoutChoice, score_on_loopback};
    let keys = dir.join("clinic-keys");
    let spec = veil_he::keyset::KeySpec::Ckks { degree: 8192 };
    veil_he::keyset::generate(&keys, spec, true)?;
    let model = model_file::load(model_path)?;
    let table = Table::load(test)?;
    let Predictions::Positive(plain) = model.predict(&table)? else {
        anyhow::bail!("a binary model gave non-binary predictions");
    };
    let options = InferenceOptions {
        scheme: veil_he::circuit::Scheme::Ckks,
        keys,
        max_message_bytes: veil_net::Limits::default().max_message_bytes,
        layout: LayoutChoice::Auto,
    };
    // The throwaway PKI of one run: a re-run makes a new one.
    let pki = tempfile::tempdir()?;
    let result =
        runtime()?.block_on(score_on_loopback(model_path, &table, &options, pki.path()))?;
    let Predictions::Positive(encrypted) = &result.predictions else {
        anyhow::bail!("the service gave non-binary predictions");
    };
    let same_classes = report.check(
        result.predicted == Predictions::Positive(plain.clone()).labels(&model.task),
        "the encrypted diagnoses are the plaintext ones",
    );
    let max_difference = encrypted
        .iter()
        .zip(&plain)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    report.check(
        max_difference < 1e-3,
        "the decrypted probabilities are the plaintext ones within 10⁻³",
    );
    say(format!(
        "the service scored {} encrypted records in {:.2} s ({:.1} MB of ciphertext up, {:.2} MB down) and saw no feature or score",
        result.rows,
        result.seconds,
        result.bytes_sent as f64 / 1e6,
        result.bytes_received as f64 / 1e6
    ));
    say(format!(
        "first patient: P(malignant) {:.4} decrypted by the clinic, {:.4} in the clear; {} diagnoses {}, probabilities within {max_difference:.1e}",
        encrypted[0],
        plain[0],
        result.rows,
        if same_classes {
            "identical"
        } else {
            "DIFFERENT"
        }
    ));
    Ok(json!({
        "stage": "encrypted_inference", "scheme": "ckks", "poly_degree": 8192,
        "security_bits": spec.security_bits(), "rows": result.rows,
        "diagnoses_identical": same_classes, "max_probability_difference": max_difference,
        "first_patient": {"encrypted": encrypted[0], "plaintext": plain[0]},
        "bytes_sent": result.bytes_sent, "bytes_received": result.bytes_received,
        "seconds": result.seconds,
    }))
}
