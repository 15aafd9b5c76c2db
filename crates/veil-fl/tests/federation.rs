//! A federated run for real: a coordinator and three clients, each with its own shard of
//! breast-cancer, talking gRPC over mutual TLS on loopback. The model trained this way is
//! close to one trained on the pooled data; a client that claims another's name, or whose
//! data has another schema, is refused.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;
use veil_core::Table;
use veil_fl::clock::{Clock, ManualClock};
use veil_fl::contributions::Contributions;
use veil_fl::coordinator::{Coordinator, Plan};
use veil_fl::participant::{Credentials, LocalData, participate};
use veil_fl::proto::client_message::Body as FromClient;
use veil_fl::proto::coordinator_message::Body as ToClient;
use veil_fl::proto::federation_client::FederationClient;
use veil_fl::proto::{ClientMessage, CoordinatorMessage, Hello, Moments, Schema, Update};
use veil_ml::{Activation, ModelKind};
use veil_net::pki;
use veil_net::transport::{ServerAddr, bind, connect, server};
use veil_net::{Limits, TlsIdentity};

fn plan(rounds: usize) -> Plan {
    Plan {
        kind: ModelKind::Logreg,
        hidden: vec![],
        activation: Activation::Relu,
        rounds,
        clients_per_round: 3,
        min_clients: 3,
        local_epochs: 2,
        lr: 0.1,
        batch_size: 16,
        answer_timeout: Duration::from_secs(30),
        seed: 1,
        mu: 0.0,
        aggregator: veil_fl::aggregate::Aggregator::Mean,
        secure: None,
        bounds: Vec::new(),
    }
}

/// A PKI with certificates for the coordinator and `clients`, and a coordinator for `plan`
/// serving on loopback with answer deadlines on `clock`: the PKI's directory, the
/// coordinator, and its address.
fn start(
    plan: Plan,
    clients: &[&str],
    clock: Clock,
) -> (tempfile::TempDir, Coordinator, ServerAddr) {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path();
    pki::loopback(pki_dir, "coordinator", clients).unwrap();
    let limits = Limits::default();
    let coordinator = Coordinator::with_clock(plan, limits.max_message_bytes, clock).unwrap();
    let incoming = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ServerAddr::from(incoming.local_addr().unwrap());
    let tls = TlsIdentity::load(pki_dir, "coordinator").unwrap();
    let router = server(&tls, &limits)
        .unwrap()
        .add_service(coordinator.service());
    tokio::spawn(async move { router.serve_with_incoming(incoming).await.unwrap() });
    (dir, coordinator, addr)
}

/// The gRPC code of the refusal a client's run ended with.
fn refusal(run: veil_fl::Result<veil_fl::participant::ParticipantReport>) -> tonic::Code {
    match run {
        Err(veil_fl::Error::Net(veil_net::Error::Call { status, .. })) => status.code(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// What client `name` of the PKI in `pki_dir` signs with, dialling "coordinator".
fn credentials(pki_dir: &std::path::Path, name: &str) -> Credentials {
    Credentials {
        signer: TlsIdentity::load(pki_dir, name).unwrap().signer().unwrap(),
        coordinator: "coordinator".into(),
        require: Default::default(),
    }
}

/// A channel to the coordinator at `addr` as client `name`.
async fn channel(pki_dir: &std::path::Path, addr: &ServerAddr, name: &str) -> Channel {
    let tls = TlsIdentity::load(pki_dir, name).unwrap();
    connect(addr, "coordinator", &tls, &Limits::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hospitals_train_one_model_over_mutual_tls() {
    let (dir, coordinator, addr) = start(
        plan(15),
        &["hospital-a", "hospital-b", "hospital-c", "impostor"],
        Clock::Real,
    );
    let pki_dir = dir.path();

    // Shards: rows i ≡ k (mod 3) for hospital k, the last 20% of rows held out for testing.
    let table = Table::load("builtin:breast-cancer").unwrap();
    let n = table.num_rows();
    let test_rows: Vec<usize> = (n * 4 / 5..n).collect();
    let shards: Vec<Table> = (0..3)
        .map(|k| table.take(&(0..n * 4 / 5).filter(|i| i % 3 == k).collect::<Vec<_>>()))
        .collect();

    let join = |name: &'static str, shard: Table, as_name: &'static str| {
        let (pki_dir, addr) = (pki_dir.to_path_buf(), addr.clone());
        tokio::spawn(async move {
            let channel = channel(&pki_dir, &addr, name).await;
            let data = Arc::new(LocalData::new(shard, "malignant").unwrap());
            participate(
                channel,
                &credentials(&pki_dir, as_name),
                data,
                Limits::default().max_message_bytes,
                Arc::new(Contributions::in_memory()),
                None,
            )
            .await
        })
    };
    // A client that claims another's name, and one whose data lacks a feature: refused.
    let impostor = join("impostor", shards[0].clone(), "hospital-a")
        .await
        .unwrap();
    assert_eq!(refusal(impostor), tonic::Code::PermissionDenied);
    let shards_copy = shards.clone();
    let clients: Vec<_> = ["hospital-a", "hospital-b", "hospital-c"]
        .into_iter()
        .zip(shards)
        .map(|(name, shard)| join(name, shard, name))
        .collect();
    coordinator.until_connected(3).await;
    let mut fewer = shards_copy[0].clone();
    fewer = Table::new("fewer", fewer.columns()[1..].to_vec()).unwrap();
    let fewer = join("impostor", fewer, "impostor").await.unwrap();
    assert_eq!(refusal(fewer), tonic::Code::FailedPrecondition);
    let report = coordinator.run().await.unwrap();
    for c in clients {
        let r = c.await.unwrap().unwrap();
        assert_eq!(r.rounds, 15);
        assert!(r.bytes_sent > 0);
    }
    assert_eq!(report.rounds.len(), 15);
    assert!(report.rounds.iter().all(|r| r.answered == 3));
    let test = table.take(&test_rows);
    let accuracy = report.model.evaluate(&test).unwrap().accuracy.unwrap();
    assert!(accuracy > 0.9, "federated accuracy {accuracy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_aggregation_trains_the_same_model_as_plain_fedavg_up_to_quantisation() {
    use veil_fl::coordinator::SecurePlan;
    use veil_fl::simulate::{Partition, Simulation, simulate};
    let sim = |secure| Simulation {
        data: "builtin:breast-cancer".into(),
        label: "malignant".into(),
        plan: Plan {
            rounds: 10,
            clients_per_round: 5,
            min_clients: 5,
            secure,
            // Under secure aggregation every client counts once (no row count travels,
            // F-10): the plain run to compare with averages the same way.
            aggregator: veil_fl::aggregate::Aggregator::Unweighted,
            ..plan(10)
        },
        clients: 5,
        partition: Partition::Dirichlet(0.5),
        seed: 4,
        dropout: 0.0,
    };
    let plain = simulate(&sim(None)).await.unwrap();
    let secure = simulate(&sim(Some(SecurePlan {
        threshold: None,
        neighbours: None,
        dp: None,
        clip: 10.0,
    })))
    .await
    .unwrap();
    assert_eq!((secure.rounds, secure.aborted_rounds), (10, 0));
    // The secure run's traffic includes keys, shares and masked vectors.
    assert!(secure.bytes_sent_per_client > plain.bytes_sent_per_client);
    // The standardisation, agreed through secure aggregation of the clients' statistics
    // in the secure run, is the plain run's to within the fixed point's 2^-32.
    let (p, q) = (&plain.model.standardizer, &secure.model.standardizer);
    for (x, y) in p
        .mean
        .iter()
        .zip(&q.mean)
        .chain(p.scale.iter().zip(&q.scale))
    {
        assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{x} vs {y}");
    }
    let (a, b) = (plain.model.network.params(), secure.model.network.params());
    let worst = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "largest parameter difference {worst}");
    assert!((plain.test_accuracy - secure.test_accuracy).abs() < 0.01);
}

/// A client that speaks the protocol by hand, to misbehave: it sends whatever a test says.
struct Hand {
    outbox: tokio::sync::mpsc::Sender<ClientMessage>,
    inbound: tonic::Streaming<CoordinatorMessage>,
    /// Feature count of breast-cancer.
    d: usize,
}

impl Hand {
    /// Joins the coordinator at `addr` as `name`, with breast-cancer's schema.
    async fn join(pki_dir: &std::path::Path, addr: &ServerAddr, name: &str, max: usize) -> Hand {
        let table = Table::load("builtin:breast-cancer").unwrap();
        let features: Vec<String> = table
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .filter(|c| c != "malignant")
            .collect();
        let d = features.len();
        let (outbox, outgoing) = tokio::sync::mpsc::channel(8);
        let hand = |inbound| Hand {
            outbox: outbox.clone(),
            inbound,
            d,
        };
        outbox
            .try_send(ClientMessage {
                step: 0,
                body: Some(FromClient::Hello(Hello {
                    name: name.into(),
                    schema: Some(Schema {
                        features,
                        label: "malignant".into(),
                        classes: table.class_labels("malignant").unwrap(),
                    }),
                })),
            })
            .unwrap();
        let mut client = FederationClient::new(channel(pki_dir, addr, name).await)
            .max_encoding_message_size(max)
            .max_decoding_message_size(max);
        hand(
            client
                .join(tokio_stream::wrappers::ReceiverStream::new(outgoing))
                .await
                .unwrap()
                .into_inner(),
        )
    }

    fn say(&self, step: u64, body: FromClient) {
        // A send fails once the coordinator has closed this client's stream.
        let _ = self.outbox.try_send(ClientMessage {
            step,
            body: Some(body),
        });
    }

    /// Zero moments (this client's rows do not count).
    fn moments(&self, step: u64) {
        self.say(
            step,
            FromClient::Moments(Moments {
                count: 0.0,
                sum: vec![0.0; self.d],
                sum_sq: vec![0.0; self.d],
            }),
        )
    }

    /// An all-zero update for `round`, of the right length.
    fn update(&self, round: u64) -> FromClient {
        FromClient::Update(Update {
            round,
            weight: 1.0,
            delta: vec![0.0; self.d + 1],
            loss: 0.0,
        })
    }
}

/// Two honest hospitals on halves of breast-cancer, and a run of `plan` in the background.
async fn honest_pair(
    plan: Plan,
    extra: &[&str],
    clock: Clock,
) -> (
    tempfile::TempDir,
    ServerAddr,
    tokio::task::JoinHandle<veil_fl::coordinator::RunReport>,
) {
    let names: Vec<&str> = ["hospital-a", "hospital-b"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let (dir, coordinator, addr) = start(plan, &names, clock);
    let table = Table::load("builtin:breast-cancer").unwrap();
    let n = table.num_rows();
    for (k, name) in names[..2].iter().enumerate() {
        let shard = table.take(&(0..n).filter(|i| i % 2 == k).collect::<Vec<_>>());
        let channel = channel(dir.path(), &addr, name).await;
        let (who, max) = (
            credentials(dir.path(), name),
            Limits::default().max_message_bytes,
        );
        tokio::spawn(async move {
            let data = Arc::new(LocalData::new(shard, "malignant").unwrap());
            let record = Arc::new(Contributions::in_memory());
            participate(channel, &who, data, max, record, None)
                .await
                .unwrap()
        });
    }
    let run = tokio::spawn(async move { coordinator.run().await.unwrap() });
    (dir, addr, run)
}

/// A client driven by hand: it answers round 1 only after the coordinator has given up on
/// it (in round 2, before round 2's answer), and in round 3 first replays its round-2
/// answer. Neither may be taken for the answer being waited for: every round after the
/// first counts all three clients. The deadlines are a manual clock's: the straggler's wait
/// in round 1 ends when the test says, and no honest client can be late however slow the
/// machine is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_or_replayed_answer_is_never_taken_for_the_current_step() {
    let clock = ManualClock::new();
    let (dir, addr, run) = honest_pair(plan(3), &["straggler"], Clock::Manual(clock.clone())).await;
    let mut hand = Hand::join(dir.path(), &addr, "straggler", 1 << 20).await;
    let mut earlier: Vec<(u64, u64)> = Vec::new();
    while let Some(message) = hand.inbound.message().await.unwrap() {
        match message.body.unwrap() {
            ToClient::MomentsRequest(_) => hand.moments(message.step),
            ToClient::Train(t) => {
                if t.round == 1 {
                    clock.expire("straggler");
                } else {
                    let (step, round) = earlier[t.round as usize - 2];
                    hand.say(step, hand.update(round));
                    hand.say(message.step, hand.update(t.round));
                }
                earlier.push((message.step, t.round));
            }
            ToClient::Done(done) => {
                assert!(!done.refused, "{}", done.reason);
                break;
            }
            _ => {}
        }
    }
    let report = run.await.unwrap();
    let answered: Vec<usize> = report.rounds.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [2, 3, 3]);
    let late: Vec<usize> = report.rounds.iter().map(|r| r.timed_out).collect();
    assert_eq!(late, [1, 0, 0]);
}

/// A client that sends, round by round, an update of the wrong length, one with a NaN,
/// one with a huge weight but for another round, a message of the wrong kind, and finally
/// one larger than the coordinator accepts: each is rejected, the run goes on with the
/// honest clients every round, and the oversized message costs the sender its stream, not
/// the coordinator its run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_client_cannot_crash_or_stall_the_coordinator() {
    let plan = Plan {
        answer_timeout: Duration::from_secs(5),
        ..plan(5)
    };
    let (dir, addr, run) = honest_pair(plan, &["mallory"], Clock::Real).await;
    // The coordinator accepts the default 64 MiB; this client may send more.
    let mut hand = Hand::join(dir.path(), &addr, "mallory", 128 << 20).await;
    while let Ok(Some(message)) = hand.inbound.message().await {
        let round = match message.body.unwrap() {
            ToClient::MomentsRequest(_) => {
                hand.moments(message.step);
                continue;
            }
            ToClient::Train(t) => t.round,
            ToClient::Welcome(_) => continue,
            _ => break,
        };
        let d = hand.d;
        let bad = |delta: Vec<f64>, weight: f64, round: u64| {
            FromClient::Update(Update {
                round,
                weight,
                delta,
                loss: 0.0,
            })
        };
        let body = match round {
            1 => bad(vec![0.0; d], 1.0, 1),
            2 => bad([vec![f64::NAN], vec![0.0; d]].concat(), 1.0, 2),
            3 => bad(vec![1e9; d + 1], 1e12, 2),
            4 => FromClient::Moments(Moments::default()),
            _ => bad(vec![1.0; 9_000_000], 1.0, round),
        };
        hand.say(message.step, body);
    }
    let report = run.await.unwrap();
    let answered: Vec<usize> = report.rounds.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [2, 2, 2, 2, 2]);
    assert_eq!(report.dropped_clients, 1, "mallory's stream was cut");
    // Rejections are immediate: no round waited for an answer until its deadline.
    let late: Vec<usize> = report.rounds.iter().map(|r| r.timed_out).collect();
    assert_eq!(late, [0, 0, 0, 0, 0]);
    let params = report.model.network.params();
    assert!(params.iter().all(|p| p.is_finite() && p.abs() < 100.0));
}

#[test]
fn plans_that_cannot_work_are_refused() {
    use veil_fl::aggregate::Aggregator;
    use veil_fl::coordinator::SecurePlan;
    let secure = SecurePlan {
        threshold: None,
        neighbours: None,
        dp: None,
        clip: 10.0,
    };
    let refused = |plan: Plan, needle: &str| {
        let err = Coordinator::new(plan, 1 << 20).err().unwrap().to_string();
        assert!(err.contains(needle), "{err}");
    };
    refused(
        Plan {
            mu: -0.5,
            ..plan(1)
        },
        "non-negative",
    );
    refused(
        Plan {
            aggregator: Aggregator::Median,
            secure: Some(secure),
            ..plan(1)
        },
        "only the sum",
    );
    // FedAvg's weights would need each client's row count in the sum (F-10).
    refused(
        Plan {
            secure: Some(secure),
            ..plan(1)
        },
        "reveal every client's size",
    );
    let unweighted = Plan {
        aggregator: Aggregator::Unweighted,
        ..plan(1)
    };
    // Public bounds standardise distributed-DP runs only, and must be ranges.
    refused(
        Plan {
            bounds: vec![("radius_mean".into(), 5.0, 30.0)],
            secure: Some(secure),
            ..unweighted.clone()
        },
        "distributed-DP run",
    );
    let private = SecurePlan {
        dp: Some(veil_fl::ddp::DpTarget {
            epsilon: 1.0,
            delta: 1e-5,
            clip: 1.0,
        }),
        ..secure
    };
    refused(
        Plan {
            bounds: vec![("radius_mean".into(), 30.0, 5.0)],
            secure: Some(private),
            ..unweighted.clone()
        },
        "below the high one",
    );
    let crowd = Plan {
        clients_per_round: 300,
        secure: Some(secure),
        ..unweighted
    };
    refused(crowd.clone(), "neighbours");
    let lonely = SecurePlan {
        neighbours: Some(1),
        ..secure
    };
    refused(
        Plan {
            secure: Some(lonely),
            ..plan(1)
        },
        "between 2 and 253",
    );
    let sparse = SecurePlan {
        neighbours: Some(16),
        ..secure
    };
    assert!(
        Coordinator::new(
            Plan {
                secure: Some(sparse),
                ..crowd
            },
            1 << 20
        )
        .is_ok()
    );
}

/// Distributed DP across coordinator restarts (review F-01). A run of 4 planned rounds
/// "crashes" after its second sum was unmasked but before that round was checkpointed; a
/// resume with other DP parameters is refused; the resume with the same ones counts the
/// crashed round as spent and stops when the plan's contributions are used; a coordinator
/// rolled back to an older ledger asks the clients for contributions they already made,
/// and every client refuses. The ε reported is the composition of every sum unmasked, and
/// never drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_dp_spending_survives_a_coordinator_crash_and_cannot_be_replayed() {
    use veil_fl::checkpoint::Checkpoint;
    use veil_fl::coordinator::SecurePlan;
    use veil_fl::ddp::DpTarget;
    const NAMES: [&str; 3] = ["hospital-a", "hospital-b", "hospital-c"];
    let names = NAMES;
    let target = DpTarget {
        epsilon: 4.0,
        delta: 1e-5,
        clip: 1.0,
    };
    let dp_plan = |rounds| Plan {
        aggregator: veil_fl::aggregate::Aggregator::Unweighted,
        secure: Some(SecurePlan {
            threshold: None,
            neighbours: None,
            dp: Some(target),
            clip: 10.0,
        }),
        ..plan(rounds)
    };
    let table = Table::load("builtin:breast-cancer").unwrap();
    let n = table.num_rows();
    // Each client's record of its contributions lives across all the coordinators below.
    let records: Vec<Arc<Contributions>> = names
        .iter()
        .map(|_| Arc::new(Contributions::in_memory()))
        .collect();
    // A coordinator for `plan` and the three clients joined to it.
    let federation = |plan: Plan| {
        let (dir, coordinator, addr) = start(plan, &names, Clock::Real);
        for (k, name) in NAMES.into_iter().enumerate() {
            let shard = table.take(&(0..n).filter(|i| i % 3 == k).collect::<Vec<_>>());
            let (pki, addr, record) = (dir.path().to_path_buf(), addr.clone(), records[k].clone());
            tokio::spawn(async move {
                let channel = channel(&pki, &addr, name).await;
                let data = Arc::new(LocalData::new(shard, "malignant").unwrap());
                let max = Limits::default().max_message_bytes;
                // Ends when the coordinator says the run is over, or gives up on it.
                let who = credentials(&pki, name);
                let _ = participate(channel, &who, data, max, record, None).await;
            });
        }
        (dir, coordinator)
    };
    let state = tempfile::tempdir().unwrap();
    let save = |c: &Checkpoint| c.save(state.path());

    // Run 1 crashes once the second round's sum is unmasked, before that round is saved.
    let (_pki, coordinator) = federation(dp_plan(4));
    let crashed = coordinator
        .run_resumable(None, |c| match c.round {
            2 => Err(veil_fl::Error::Interrupted { state: None }),
            _ => save(c),
        })
        .await;
    assert!(crashed.is_err());
    coordinator.close("crashed");
    let saved = Checkpoint::load(state.path()).unwrap().unwrap();
    let ledger = saved.dp.clone().unwrap();
    assert_eq!(saved.round, 1, "the crashed round was not completed");
    assert_eq!(
        (ledger.begun, ledger.unmasked),
        (2, 2),
        "but it was counted"
    );
    let after_crash = ledger.epsilon_spent().unwrap();
    assert!(after_crash > 0.0);
    assert_eq!(saved.rows, None, "a DP run releases no row count");

    // Resuming with twice the rounds at the same ε is refused at once.
    let (_pki, coordinator) = federation(dp_plan(8));
    let refused = coordinator
        .run_resumable(Some(saved.clone()), |_| Ok(()))
        .await;
    match refused {
        Err(veil_fl::Error::InvalidParameter { name: "state", why }) => {
            assert!(why.contains("other DP parameters"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    coordinator.close("refused");

    // The same plan resumes: contributions 3 and 4 remain, so two more rounds run.
    let (_pki, coordinator) = federation(dp_plan(4));
    let report = coordinator
        .run_resumable(Some(saved.clone()), save)
        .await
        .unwrap();
    assert_eq!(report.rounds.len(), 2);
    assert!(report.rounds.iter().all(|r| !r.aborted && r.answered == 3));
    let spent = report.dp.unwrap();
    assert_eq!((spent.begun, spent.unmasked), (4, 4));
    let composed = ledger
        .mechanism
        .epsilon_after(ledger.delta, 4, ledger.threshold)
        .unwrap();
    assert_eq!(spent.epsilon, composed);
    assert!(spent.epsilon > after_crash && spent.epsilon <= target.epsilon);
    let finished = Checkpoint::load(state.path()).unwrap().unwrap();
    assert_eq!(finished.dp.as_ref().unwrap().unmasked, 4);

    // A coordinator rolled back to the ledger after the crash asks again for contributions
    // 3 and 4: every client refuses, each round aborts, and nothing more is unmasked.
    let (_pki, coordinator) = federation(dp_plan(4));
    let replayed = coordinator.run_resumable(Some(saved), |_| Ok(())).await;
    assert!(
        matches!(replayed, Err(veil_fl::Error::AllAborted { .. })),
        "{replayed:?}"
    );
    coordinator.close("replayed");
}
