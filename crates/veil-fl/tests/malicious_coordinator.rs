//! A coordinator that deviates from secure aggregation (review F-08), driven by hand over
//! real gRPC with mutual TLS: it forges roster entries (unsigned, from another CA, under its
//! own certificate, a client's entry moved to another id, one client twice), shows clients
//! U2 views that do not match the shares it forwarded, asks a stage twice, and shows clients
//! different survivor sets. Every attempt is refused by the honest clients with a
//! `Refusal`, before they reveal any unmasking share; the same clients finish an honest
//! round.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use veil_core::Table;
use veil_fl::contributions::Contributions;
use veil_fl::ddp::{Contribution, Ddp, DpTarget};
use veil_fl::participant::{Credentials, LocalData, Requirements, participate};
use veil_fl::proto::client_message::Body as FromClient;
use veil_fl::proto::coordinator_message::Body as ToClient;
use veil_fl::proto::federation_server::{Federation, FederationServer};
use veil_fl::proto::{
    ClientMessage, CoordinatorMessage, Ddp as Ddp_, Done, Model, MomentsRequest, SealedShare,
    SecAggAdvert, SecAggRoster, SecAggShares, SecAggStart, SecAggSurvivors, SecAggUnmask, Train,
    ViewSignature,
};
use veil_fl::secagg;
use veil_fl::wire;
use veil_net::transport::{ServerAddr, bind, connect, server};
use veil_net::{Limits, TlsIdentity, pki};

/// One client's stream, as the coordinator holds it.
struct Line {
    name: String,
    outbox: mpsc::Sender<Result<CoordinatorMessage, Status>>,
    inbound: Streaming<ClientMessage>,
    step: u64,
}

impl Line {
    /// Asks `body` and returns the answer to it.
    async fn ask(&mut self, body: ToClient) -> FromClient {
        self.step += 1;
        let msg = CoordinatorMessage {
            step: self.step,
            body: Some(body),
        };
        self.outbox.send(Ok(msg)).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(60), self.inbound.message())
            .await
            .expect("the client answers")
            .unwrap()
            .unwrap();
        assert_eq!(answer.step, self.step);
        answer.body.unwrap()
    }
}

/// The hand-driven coordinator: it hands every client's stream to the test.
#[derive(Clone)]
struct Hand {
    lines: mpsc::Sender<Line>,
}

#[tonic::async_trait]
impl Federation for Hand {
    type JoinStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn join(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let name = veil_net::tls::peer_name(&request).unwrap();
        let mut inbound = request.into_inner();
        let hello = inbound.message().await?;
        assert!(matches!(
            hello.and_then(|m| m.body),
            Some(FromClient::Hello(_))
        ));
        let (outbox, outgoing) = mpsc::channel(16);
        let line = Line {
            name,
            outbox,
            inbound,
            step: 0,
        };
        self.lines.send(line).await.unwrap();
        Ok(Response::new(ReceiverStream::new(outgoing)))
    }
}

fn refused(answer: &FromClient, needle: &str) {
    match answer {
        FromClient::Refusal(r) => assert!(r.reason.contains(needle), "{}", r.reason),
        other => panic!("expected a refusal ({needle}), got {other:?}"),
    }
}

fn advert(answer: FromClient) -> SecAggAdvert {
    match answer {
        FromClient::Advert(a) => a,
        other => panic!("expected keys, got {other:?}"),
    }
}

/// A training task on breast-cancer's 30 features, logistic regression from zero.
fn train() -> Train {
    Train {
        round: 1,
        model: Some(Model {
            kind: "logreg".into(),
            hidden: Vec::new(),
            activation: "relu".into(),
            classes: vec!["0".into(), "1".into()],
            mean: vec![0.0; 30],
            scale: vec![1.0; 30],
        }),
        params: vec![0.0; 31],
        local_epochs: 1,
        lr: 0.1,
        batch_size: 16,
        mu: 0.0,
        seed: 1,
    }
}

/// Stage 0 of a round of `session` with threshold `t` for client `id`: a statistics round,
/// or with `ddp` a distributed-DP training round.
fn start_body(session: &secagg::Session, t: u32, id: u32, ddp: Option<Ddp_>) -> ToClient {
    ToClient::SecaggStart(SecAggStart {
        train: ddp.is_some().then(train),
        session: session.0.to_vec(),
        threshold: t,
        id,
        clip: 0.0,
        bound: 0.0,
        clients: 3,
        moments: ddp.is_none(),
        ddp,
    })
}

/// Stage 0 of a statistics round of `session` with threshold `t`, for client `line` as
/// `id`: its signed advert.
async fn start(line: &mut Line, session: &secagg::Session, t: u32, id: u32) -> SecAggAdvert {
    advert(line.ask(start_body(session, t, id, None)).await)
}

/// Every client's advert for a fresh session (ids 1, 2, 3 in name order).
async fn adverts(lines: &mut [Line], t: u32) -> (secagg::Session, Vec<SecAggAdvert>) {
    let session = secagg::Session::random();
    let mut all = Vec::new();
    for (i, line) in lines.iter_mut().enumerate() {
        all.push(start(line, &session, t, i as u32 + 1).await);
    }
    (session, all)
}

fn roster(adverts: &[SecAggAdvert]) -> ToClient {
    ToClient::Roster(SecAggRoster {
        adverts: adverts.to_vec(),
    })
}

/// Rosters out, shares in: every client's sealed shares.
async fn share(lines: &mut [Line], adverts: &[SecAggAdvert]) -> Vec<SealedShare> {
    let mut sealed = Vec::new();
    for line in lines.iter_mut() {
        match line.ask(roster(adverts)).await {
            FromClient::ShareKeys(k) => sealed.extend(k.sealed),
            other => panic!("{}: expected shares, got {other:?}", line.name),
        }
    }
    sealed
}

fn shares_for(sealed: &[SealedShare], holder: u32, u2: &[u32]) -> ToClient {
    ToClient::Shares(SecAggShares {
        u2: u2.to_vec(),
        sealed: sealed.iter().filter(|s| s.to == holder).cloned().collect(),
    })
}

/// `a` signed by `signer` for `session`, as a forger would.
fn sign_as(
    signer: &veil_net::signed::Signer,
    a: &SecAggAdvert,
    session: &secagg::Session,
) -> SecAggAdvert {
    let statement = secagg::Advert {
        id: a.id,
        enc_pk: a.enc_pk.clone().try_into().unwrap(),
        mask_pk: a.mask_pk.clone().try_into().unwrap(),
        seed_commitment: a.seed_commitment.clone().try_into().unwrap(),
    }
    .statement(session);
    let signed = signer.sign(secagg::ADVERT_CONTEXT, &statement).unwrap();
    SecAggAdvert {
        certificate: signed.certificate,
        signature: signed.signature,
        ..a.clone()
    }
}

/// Every client's masked input, all told U2 = {1, 2, 3} with the shares dealt to them.
async fn masked(lines: &mut [Line], sealed: &[SealedShare]) {
    for (i, line) in lines.iter_mut().enumerate() {
        let holder = i as u32 + 1;
        assert!(matches!(
            line.ask(shares_for(sealed, holder, &[1, 2, 3])).await,
            FromClient::Masked(_)
        ));
    }
}

/// Each client's signature on the survivors it is shown.
async fn signed_views(lines: &mut [Line], shown: &[Vec<u32>]) -> Vec<ViewSignature> {
    let mut views = Vec::new();
    for (i, (line, u3)) in lines.iter_mut().zip(shown).enumerate() {
        let ask = ToClient::Survivors(SecAggSurvivors { u3: u3.clone() });
        match line.ask(ask).await {
            FromClient::Consistency(c) => views.push(ViewSignature {
                id: i as u32 + 1,
                signature: c.signature,
            }),
            other => panic!("expected a signed view, got {other:?}"),
        }
    }
    views
}

const NAMES: [&str; 3] = ["hospital-a", "hospital-b", "hospital-c"];

type Clients =
    Vec<tokio::task::JoinHandle<veil_fl::Result<veil_fl::participant::ParticipantReport>>>;

/// The hand-driven coordinator on loopback and three clients of breast-cancer shards, each
/// insisting on `require`: the PKI directory, their streams in name order, and their runs.
async fn federation(require: [Requirements; 3]) -> (tempfile::TempDir, Vec<Line>, Clients) {
    let dir = tempfile::tempdir().unwrap();
    pki::loopback(dir.path(), "coordinator", &NAMES).unwrap();
    let limits = Limits::default();
    let (to_test, mut lines_in) = mpsc::channel(8);
    let incoming = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ServerAddr::from(incoming.local_addr().unwrap());
    let tls = TlsIdentity::load(dir.path(), "coordinator").unwrap();
    let router = server(&tls, &limits)
        .unwrap()
        .add_service(FederationServer::new(Hand { lines: to_test }));
    tokio::spawn(async move { router.serve_with_incoming(incoming).await.unwrap() });
    let table = Table::load("builtin:breast-cancer").unwrap();
    let n = table.num_rows();
    let mut clients = Vec::new();
    for (k, name) in NAMES.into_iter().enumerate() {
        let shard = table.take(&(0..n).filter(|i| i % 3 == k).collect::<Vec<_>>());
        let (pki_dir, addr, require) = (dir.path().to_path_buf(), addr.clone(), require[k]);
        clients.push(tokio::spawn(async move {
            let own = TlsIdentity::load(&pki_dir, name).unwrap();
            let channel = connect(&addr, "coordinator", &own, &Limits::default())
                .await
                .unwrap();
            let who = Credentials {
                signer: own.signer().unwrap(),
                coordinator: "coordinator".into(),
                require,
            };
            let data = Arc::new(LocalData::new(shard, "malignant").unwrap());
            let record = Arc::new(Contributions::in_memory());
            participate(channel, &who, data, 1 << 26, record, None).await
        }));
    }
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(lines_in.recv().await.unwrap());
    }
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    (dir, lines, clients)
}

/// Tells every client the run is over and checks each finished cleanly.
async fn finish(lines: &[Line], clients: Clients) {
    for line in lines {
        let done = CoordinatorMessage {
            step: 0,
            body: Some(ToClient::Done(Done {
                reason: "over".into(),
                refused: false,
            })),
        };
        line.outbox.send(Ok(done)).await.unwrap();
    }
    for c in clients {
        assert!(c.await.unwrap().unwrap().finished);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deviating_coordinator_is_refused_at_every_step_and_unmasks_nobody() {
    let (dir, mut lines, clients) = federation([Requirements::default(); 3]).await;
    let foreign = tempfile::tempdir().unwrap();
    pki::loopback(foreign.path(), "coordinator", &["mallory"]).unwrap();
    let tls = TlsIdentity::load(dir.path(), "coordinator").unwrap();

    // 1. Sybils in the roster. Each attempt is a fresh session; the sybil takes id 4.
    let mallory = TlsIdentity::load(foreign.path(), "mallory")
        .unwrap()
        .signer()
        .unwrap();
    let coordinator = tls.signer().unwrap();
    for attempt in 0..4 {
        let (session, mut listed) = adverts(&mut lines, 3).await;
        // Keys the coordinator would hold, under id 4.
        let forged = SecAggAdvert {
            id: 4,
            ..listed[1].clone()
        };
        let (sybil, needle) = match attempt {
            // No certificate, no signature.
            0 => (
                SecAggAdvert {
                    certificate: Vec::new(),
                    signature: Vec::new(),
                    ..forged
                },
                "unreadable certificate",
            ),
            // Signed by a party of another CA.
            1 => (sign_as(&mallory, &forged, &session), "CA issued"),
            // Signed with the coordinator's own certificate.
            2 => (sign_as(&coordinator, &forged, &session), "the coordinator"),
            // Client b's genuine entry (signed for id 2), moved to id 4.
            _ => (forged, "signature does not verify"),
        };
        listed.push(sybil);
        refused(&lines[0].ask(roster(&listed)).await, needle);
    }
    // Client b asked to advertise twice in one session (as 2 and as 4): both entries are
    // signed, but one name may stand for one entry only.
    let session = secagg::Session::random();
    let a = start(&mut lines[0], &session, 3, 1).await;
    let b = start(&mut lines[1], &session, 3, 2).await;
    let c = start(&mut lines[2], &session, 3, 3).await;
    let b_again = start(&mut lines[1], &session, 3, 4).await;
    refused(
        &lines[0].ask(roster(&[a, b, c, b_again])).await,
        "listed twice",
    );

    // 2. U2 views that do not match the shares forwarded (t = 2, so that a U2 of two
    // would otherwise be enough).
    let (_, all) = adverts(&mut lines, 2).await;
    let sealed = share(&mut lines, &all).await;
    refused(
        &lines[0].ask(shares_for(&sealed, 1, &[1, 2])).await,
        "does not match the shares",
    );
    let withheld: Vec<SealedShare> = sealed.iter().filter(|s| s.from != 3).cloned().collect();
    refused(
        &lines[1].ask(shares_for(&withheld, 2, &[1, 2, 3])).await,
        "does not match the shares",
    );
    // A refused client is out of the round: anything more for it is refused too.
    refused(
        &lines[0]
            .ask(ToClient::Survivors(SecAggSurvivors { u3: vec![1, 2, 3] }))
            .await,
        "no secure-aggregation round",
    );

    // 3. A stage asked twice: a second masked input under another U2.
    let (_, all) = adverts(&mut lines, 3).await;
    let sealed = share(&mut lines, &all).await;
    assert!(matches!(
        lines[2].ask(shares_for(&sealed, 3, &[1, 2, 3])).await,
        FromClient::Masked(_)
    ));
    refused(
        &lines[2].ask(shares_for(&sealed, 3, &[1, 3])).await,
        "out of turn",
    );

    // 4. Different survivors shown to different clients (t = 2): each view is signed by
    // one client only, so no client holds t matching signatures, and none unmasks.
    let (_, all) = adverts(&mut lines, 2).await;
    let sealed = share(&mut lines, &all).await;
    masked(&mut lines, &sealed).await;
    let shown = [vec![1, 2, 3], vec![1, 2], vec![1, 3]];
    let views = signed_views(&mut lines, &shown).await;
    for line in lines.iter_mut() {
        let unmask = ToClient::Unmask(SecAggUnmask {
            signatures: views.clone(),
        });
        refused(&line.ask(unmask).await, "consistency check");
    }
    // A signature moved to another client's id does not count (t = 3).
    let (_, all) = adverts(&mut lines, 3).await;
    let sealed = share(&mut lines, &all).await;
    masked(&mut lines, &sealed).await;
    let mut views = signed_views(&mut lines, &[vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]]).await;
    views[2].signature = views[1].signature.clone();
    refused(
        &lines[0]
            .ask(ToClient::Unmask(SecAggUnmask { signatures: views }))
            .await,
        "consistency check",
    );

    // 5. The same clients and coordinator, honest: everyone unmasks, once.
    let (_, all) = adverts(&mut lines, 3).await;
    let sealed = share(&mut lines, &all).await;
    masked(&mut lines, &sealed).await;
    let views = signed_views(&mut lines, &[vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]]).await;
    for line in lines.iter_mut() {
        let unmask = ToClient::Unmask(SecAggUnmask {
            signatures: views.clone(),
        });
        assert!(matches!(
            line.ask(unmask.clone()).await,
            FromClient::Unmasking(_)
        ));
        refused(&line.ask(unmask).await, "no secure-aggregation round");
    }

    finish(&lines, clients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_view_gives_the_coordinator_no_client_alone() {
    // t = 2 of 3. Clients a and b are told client c dropped before masking (U3 = {a, b});
    // c is told a did (U3 = {b, c}). The majority view gets its quorum and reveals what an
    // honest round of {a, b} would: shares of a's and b's self-mask seeds and of c's mask
    // key. c's view has one signature, and c reveals nothing; so no client's mask key is
    // revealed beside its seed, and a's input stays masked by its pair mask with c.
    let (_dir, mut lines, clients) = federation([Requirements::default(); 3]).await;
    let (_, all) = adverts(&mut lines, 2).await;
    let sealed = share(&mut lines, &all).await;
    masked(&mut lines, &sealed).await;
    let views = signed_views(&mut lines, &[vec![1, 2], vec![1, 2], vec![2, 3]]).await;
    let mut revealed = Vec::new();
    for line in lines.iter_mut() {
        let unmask = ToClient::Unmask(SecAggUnmask {
            signatures: views.clone(),
        });
        match line.ask(unmask).await {
            FromClient::Unmasking(u) => revealed.push(u),
            other => refused(&other, "consistency check"),
        }
    }
    assert_eq!(revealed.len(), 2, "a and b only");
    for u in &revealed {
        let seeds: Vec<u32> = u.seeds.iter().map(|h| h.dealer).collect();
        let keys: Vec<u32> = u.mask_keys.iter().map(|h| h.dealer).collect();
        assert_eq!((seeds, keys), (vec![1, 2], vec![3]));
    }
    finish(&lines, clients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_answer_only_with_the_protection_they_require() {
    // a requires secure aggregation; b distributed DP within ε = 8; c nothing.
    let require = [
        Requirements::new(true, None),
        Requirements::new(true, Some(8.0)),
        Requirements::default(),
    ];
    let (_dir, mut lines, clients) = federation(require).await;
    // In clear: refused by a and b, answered by c.
    for (i, line) in lines.iter_mut().enumerate() {
        let answer = line.ask(ToClient::MomentsRequest(MomentsRequest {})).await;
        match i {
            2 => assert!(matches!(answer, FromClient::Moments(_))),
            _ => refused(&answer, "in clear"),
        }
    }
    refused(&lines[0].ask(ToClient::Train(train())).await, "in clear");
    // Secure statistics: fine for a, not for b (a DP run has no statistics round).
    let session = secagg::Session::random();
    start(&mut lines[0], &session, 2, 1).await;
    let statistics = lines[1].ask(start_body(&session, 2, 2, None)).await;
    refused(&statistics, "without distributed DP");
    // Distributed DP: a mechanism spending ε ≈ 50 is over b's cap; one of ε ≈ 2 is not.
    for (epsilon, accepted) in [(50.0, false), (2.0, true)] {
        let target = DpTarget {
            epsilon,
            delta: 1e-5,
            clip: 1.0,
        };
        let (mechanism, _) = Ddp::calibrate(&target, 3, 31, 3, 2).unwrap();
        let contribution = Contribution {
            run: format!("run-{epsilon}"),
            number: 1,
            rounds: 3,
        };
        let ddp = wire::ddp_out(&mechanism, &contribution);
        let answer = lines[1]
            .ask(start_body(&secagg::Session::random(), 2, 2, Some(ddp)))
            .await;
        match accepted {
            true => assert!(matches!(answer, FromClient::Advert(_)), "{answer:?}"),
            false => refused(&answer, "cap"),
        }
    }
    finish(&lines, clients).await;
}
