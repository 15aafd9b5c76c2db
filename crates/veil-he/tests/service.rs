//! The inference service over real gRPC with mutual TLS on loopback: a well-behaved client
//! gets `Model::predict`'s answers; a client that breaks the protocol — out of order, for
//! other parameters or keys, truncated, too shallow — gets a refusal that says what, never
//! a wrong answer.

#![allow(clippy::unwrap_used)]

use tokio_stream::wrappers::ReceiverStream;
use veil_core::{Standardizer, Table};
use veil_he::circuit::Scheme;
use veil_he::ckks::cipher::encode;
use veil_he::ckks::keys::SecretKey;
use veil_he::ckks::params::{Context, Parameters};
use veil_he::service::proto::inference_client::InferenceClient;
use veil_he::service::proto::{Input, Open, ScoreRequest, score_request};
use veil_he::service::{InferenceOptions, LayoutChoice, Service, infer};
use veil_ml::{Activation, Architecture, Model, ModelKind, Network, Output, Predictions, Task};
use veil_net::pki::{self, Extra};
use veil_net::transport::{ServerAddr, bind, connect, server, spawn};
use veil_net::{Limits, TlsIdentity};

fn model(hidden: Vec<usize>) -> Model {
    let arch = Architecture {
        inputs: 3,
        hidden,
        activation: Activation::Square,
        outputs: 1,
        output: Output::Sigmoid,
    };
    Model {
        kind: ModelKind::Logreg,
        network: Network::init(arch, 3).unwrap(),
        features: vec!["a".into(), "b".into(), "c".into()],
        standardizer: Standardizer {
            mean: vec![5.0, -1.0, 100.0],
            scale: vec![2.0, 0.25, 40.0],
            clip: None,
        },
        label: "y".into(),
        task: Task::Binary {
            classes: vec!["no".into(), "yes".into()],
        },
    }
}

const CSV: &str = "a,b,c\n5,-1,100\n7.5,-0.8,140\n1,-1.5,20\n9,0,180\n";

struct Setup {
    _dir: tempfile::TempDir,
    keys: std::path::PathBuf,
    pki: std::path::PathBuf,
    addr: ServerAddr,
}

/// A PKI, CKKS (N = 8192) and Paillier key sets, and a service for `model` on loopback.
async fn setup(model: &Model) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::loopback(&pki_dir, "scorer", &["clinic"]).unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let ctx = Context::new(Parameters::n8192()).unwrap();
    let sk = SecretKey::generate(&ctx);
    std::fs::write(keys.join("secret.key"), sk.to_bytes()).unwrap();
    // A secret key others may read is refused (F-24).
    #[cfg(unix)]
    std::fs::set_permissions(
        keys.join("secret.key"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(keys.join("public.key"), sk.public_key().unwrap().to_bytes()).unwrap();
    let eval = sk.evaluation_keys().unwrap();
    std::fs::write(keys.join("evaluation.key"), eval.to_bytes(&ctx)).unwrap();
    let psk = veil_he::paillier::SecretKey::generate(2048).unwrap();
    let mut batch = veil_core::atomic::Batch::new();
    veil_he::paillier::stage_secret(&mut batch, &keys.join("secret.json"), &psk).unwrap();
    batch.commit().unwrap();

    let limits = Limits::default();
    let service = Service::new(model, limits.max_message_bytes).unwrap();
    let incoming = bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let addr = ServerAddr::from(incoming.local_addr().unwrap());
    let tls = TlsIdentity::load(&pki_dir, "scorer").unwrap();
    let router = server(&tls, &Limits::default())
        .unwrap()
        .add_service(service.service());
    std::mem::forget(spawn(router, incoming)); // serves until the test's runtime ends
    Setup {
        _dir: dir,
        keys,
        pki: pki_dir,
        addr,
    }
}

async fn channel(s: &Setup) -> tonic::transport::Channel {
    let tls = TlsIdentity::load(&s.pki, "clinic").unwrap();
    connect(&s.addr, "127.0.0.1", &tls, &Limits::default())
        .await
        .unwrap()
}

fn options(keys: &std::path::Path, scheme: Scheme, layout: LayoutChoice) -> InferenceOptions {
    InferenceOptions {
        scheme,
        keys: keys.to_path_buf(),
        max_message_bytes: Limits::default().max_message_bytes,
        layout,
    }
}

fn positive(p: &Predictions) -> Vec<f64> {
    match p {
        Predictions::Positive(v) => v.clone(),
        other => panic!("not binary: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemes_give_the_models_own_predictions() {
    let m = model(vec![]);
    let s = setup(&m).await;
    let table = Table::from_csv_bytes("rows", CSV.as_bytes()).unwrap();
    let want = positive(&m.predict(&table).unwrap());
    for (scheme, tolerance) in [(Scheme::Ckks, 1e-4), (Scheme::Paillier, 1e-10)] {
        let options = options(&s.keys, scheme, LayoutChoice::Auto);
        let got = infer(channel(&s).await, &table, &options).await.unwrap();
        assert_eq!(got.rows, 4);
        for (g, w) in positive(&got.predictions).iter().zip(&want) {
            assert!((g - w).abs() < tolerance, "{scheme:?}: {g} vs {w}");
        }
        assert_eq!(got.predicted, got.predictions.labels(&m.task));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feature_packed_layout_registers_rotation_keys_once_and_scores_alike() {
    let m = model(vec![]);
    let s = setup(&m).await;
    let table = Table::from_csv_bytes("rows", CSV.as_bytes()).unwrap();
    let want = positive(&m.predict(&table).unwrap());
    let options = options(&s.keys, Scheme::Ckks, LayoutChoice::FeaturePacked);
    let first = infer(channel(&s).await, &table, &options).await.unwrap();
    assert_eq!(first.layout.name, "feature-packed");
    assert_eq!((first.layout.block, first.layout.batches), (Some(4), 1));
    assert!(
        first.key_bytes_registered > 0,
        "rotations by 1 and 2 registered"
    );
    for (g, w) in positive(&first.predictions).iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
    let again = infer(channel(&s).await, &table, &options).await.unwrap();
    assert_eq!(again.key_bytes_registered, 0, "the service kept the keys");
    assert_eq!(again.predicted, first.predicted);
    // Keys are kept per client certificate: another client's job finds none.
    pki::issue(&s.pki, "intruder", &Extra::default(), false).unwrap();
    let tls = TlsIdentity::load(&s.pki, "intruder").unwrap();
    let other = connect(&s.addr, "127.0.0.1", &tls, &Limits::default())
        .await
        .unwrap();
    let sk = SecretKey::from_bytes(&std::fs::read(s.keys.join("secret.key")).unwrap()).unwrap();
    let mut open = open("ckks", 8192, vec![], 1);
    if let Some(score_request::Body::Open(o)) = &mut open.body {
        o.layout = "feature-packed".into();
        o.block = 4;
        o.key_id = sk.id().0.to_vec();
    }
    let why = refusal_on(other, vec![open]).await;
    assert!(why.contains("no rotation keys registered"), "{why}");
}

/// Sends `messages` as one job and returns the service's refusal.
async fn refusal(s: &Setup, messages: Vec<ScoreRequest>) -> String {
    refusal_on(channel(s).await, messages).await
}

/// Sends `messages` as one job on `channel` and returns the service's refusal.
async fn refusal_on(channel: tonic::transport::Channel, messages: Vec<ScoreRequest>) -> String {
    let mut client = InferenceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(messages.len() + 1);
    for m in messages {
        tx.send(m).await.unwrap();
    }
    // Keep the stream open: the refusal must come from the messages, not from their end.
    let mut replies = client
        .score(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let reply = tokio::time::timeout(std::time::Duration::from_secs(30), replies.message());
    let status = match reply.await.expect("the service refuses within 30 s") {
        Ok(Some(_)) => panic!("the service answered a broken job"),
        Ok(None) => panic!("the service ended a broken job without saying why"),
        Err(status) => status,
    };
    drop(tx);
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    status.message().to_string()
}

fn open(scheme: &str, poly_degree: u32, key: Vec<u8>, rows: u64) -> ScoreRequest {
    ScoreRequest {
        body: Some(score_request::Body::Open(Open {
            scheme: scheme.into(),
            poly_degree,
            key,
            rows,
            batch_rows: rows as u32,
            ..Default::default()
        })),
    }
}

fn input(feature: u32, ciphertexts: Vec<Vec<u8>>) -> ScoreRequest {
    ScoreRequest {
        body: Some(score_request::Body::Input(Input {
            batch: 0,
            feature,
            ciphertexts,
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_breaches_are_refused_with_the_reason() {
    let s = setup(&model(vec![])).await;
    let sk = SecretKey::from_bytes(&std::fs::read(s.keys.join("secret.key")).unwrap()).unwrap();
    let ctx = sk.context().clone();
    let pk = sk.public_key().unwrap();
    let ct = |level: usize| {
        pk.encrypt(&encode(&ctx, &[1.0, 2.0], level, ctx.scale()).unwrap())
            .unwrap()
            .to_bytes(&ctx)
    };
    let ckks = || open("ckks", 8192, vec![], 2);
    let cases: Vec<(Vec<ScoreRequest>, &str)> = vec![
        (vec![input(0, vec![ct(1)])], "starts with an Open"),
        (vec![open("ckks", 4096, vec![], 2)], "N = 4096"),
        (vec![open("bfv", 8192, vec![], 2)], "unknown scheme"),
        (vec![open("ckks", 8192, vec![], 0)], "at least one row"),
        (
            vec![ckks(), input(1, vec![ct(1)])],
            "batch 0 feature 0 was due",
        ),
        (vec![ckks(), input(0, vec![ct(1), ct(1)])], "2 ciphertexts"),
        (vec![ckks(), input(0, vec![ct(0)])], "needs 1 rescalings"),
        (
            vec![ckks(), input(0, vec![ct(1)[..5000].to_vec()])],
            "truncated",
        ),
        (vec![ckks(), ckks()], "second Open"),
        (
            vec![open("paillier", 0, vec![7; 32], 2)],
            "Veil uses [2048, 3072]",
        ),
    ];
    for (messages, needle) in cases {
        let why = refusal(&s, messages).await;
        assert!(why.contains(needle), "{needle:?} not in {why:?}");
    }
    // A ciphertext for other parameters, and one under another key set mixed into a job.
    let big = Context::new(Parameters::n16384()).unwrap();
    let other = SecretKey::generate(&big).public_key().unwrap();
    let foreign = other
        .encrypt(&encode(&big, &[1.0], 1, big.scale()).unwrap())
        .unwrap()
        .to_bytes(&big);
    let why = refusal(&s, vec![ckks(), input(0, vec![foreign])]).await;
    assert!(
        why.contains("made for other parameters: N = 16384"),
        "{why}"
    );
    let stranger = SecretKey::generate(&ctx).public_key().unwrap();
    let theirs = stranger
        .encrypt(&encode(&ctx, &[1.0], 1, ctx.scale()).unwrap())
        .unwrap()
        .to_bytes(&ctx);
    let why = refusal(
        &s,
        vec![ckks(), input(0, vec![ct(1)]), input(1, vec![theirs])],
    )
    .await;
    assert!(why.contains("encrypted under another key set"), "{why}");
    // A Paillier batch with a ciphertext missing.
    let psk = veil_he::paillier::read_secret(&s.keys.join("secret.json")).unwrap();
    let ppk = psk.public();
    let one = ppk.to_bytes(&ppk.encrypt_real(1.0).unwrap().ciphertext);
    let why = refusal(
        &s,
        vec![
            open("paillier", 0, ppk.modulus().to_be_bytes().to_vec(), 2),
            input(0, vec![one]),
        ],
    )
    .await;
    assert!(why.contains("for a batch of 2 rows"), "{why}");
    // A client that disappears mid-job costs the service nothing: the next one is served.
    {
        let mut client = InferenceClient::new(channel(&s).await);
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.send(ckks()).await.unwrap();
        tx.send(input(0, vec![ct(1)])).await.unwrap();
        let replies = client.score(ReceiverStream::new(rx)).await.unwrap();
        drop((tx, replies, client));
    }
    let table = Table::from_csv_bytes("rows", CSV.as_bytes()).unwrap();
    let options = options(&s.keys, Scheme::Ckks, LayoutChoice::Auto);
    assert_eq!(
        infer(channel(&s).await, &table, &options)
            .await
            .unwrap()
            .rows,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_deeper_than_the_chain_is_refused_before_anything_is_encrypted() {
    let m = model(vec![2]);
    let s = setup(&m).await;
    let why = refusal(&s, vec![open("ckks", 8192, vec![], 2)]).await;
    assert!(why.contains("make keys with --poly-degree 16384"), "{why}");
    let why = refusal(&s, vec![open("paillier", 0, vec![], 2)]).await;
    assert!(why.contains("Paillier cannot"), "{why}");
    // The client says so itself, from what Describe tells it.
    let table = Table::from_csv_bytes("rows", CSV.as_bytes()).unwrap();
    let options = options(&s.keys, Scheme::Ckks, LayoutChoice::Auto);
    let err = infer(channel(&s).await, &table, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, veil_he::Error::OutOfRange { what: "depth", why } if why.contains("allow 2")),
        "{err}"
    );
    // A table without the model's features.
    let m2 = model(vec![]);
    let s2 = setup(&m2).await;
    let wrong = Table::from_csv_bytes("rows", b"a,b\n1,2\n").unwrap();
    let err = infer(channel(&s2).await, &wrong, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, veil_he::Error::Io(veil_core::Error::UnknownColumn { column, .. }) if column == "c"),
        "{err}"
    );
}
