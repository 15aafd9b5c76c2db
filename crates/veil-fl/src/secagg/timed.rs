//! One secure-aggregation round driven stage by stage in one process, every party's work
//! timed separately: what `veil fl bench` and the criterion benchmark measure, and what
//! `bench/fl.sh` sets beside Flower's SecAgg+ doing the same work.
//!
//! Each client quantises a random update in [−1, 1], and a given fraction of them drop out
//! after dealing their shares and before sending their masked inputs — the costly case, in
//! which the server must rebuild the dropped clients' mask keys and remove their pairwise
//! masks. Upload sizes are those of the protobuf messages a client sends over gRPC.

use std::time::{Duration, Instant};

use prost::Message;
use rand::seq::IteratorRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{Client, ClientId, Config, Graph, MaskedInput, Server, Session};
use crate::error::{Error, Result};
use crate::proto::client_message::Body;
use crate::proto::{ClientMessage, SecAggMasked};
use crate::wire;
use veil_core::fixed::Quantizer;
use veil_core::noise::NoiseRng;

/// The round to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedRound {
    /// n, the clients.
    pub clients: usize,
    /// The length of each client's update.
    pub params: usize,
    /// The fraction of clients that drop out before sending their masked input.
    pub dropout: f64,
    /// Who shares with whom.
    pub graph: Graph,
    /// t (default: [`Graph::default_threshold`]).
    pub threshold: Option<usize>,
    /// Seed of the updates and of who drops out.
    pub seed: u64,
}

/// What the round cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTiming {
    /// The threshold used.
    pub threshold: usize,
    /// Clients that dropped out.
    pub dropped: usize,
    /// The server's time over all stages, decoding the sum included.
    pub coordinator: Duration,
    /// A client's time over all its stages (quantising its update included), averaged
    /// over the clients that finished the round.
    pub client: Duration,
    /// Bytes a surviving client uploads, averaged.
    pub upload_bytes_per_client: f64,
    /// Bytes of one masked vector as sent.
    pub masked_vector_bytes: usize,
    /// The largest difference between the decoded sum and the plain sum of the survivors'
    /// updates (quantisation error only).
    pub max_abs_error: f64,
}

fn size(body: Body) -> usize {
    ClientMessage {
        step: u64::MAX,
        body: Some(body),
    }
    .encoded_len()
}

/// What `veil fl bench` reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bench {
    /// Always `veil` (the comparison scripts print other tools beside it).
    pub tool: &'static str,
    /// This build's version.
    pub version: &'static str,
    /// Clients in the round.
    pub clients: usize,
    /// Parameters in each update.
    pub params: usize,
    /// The fraction that dropped out.
    pub dropout: f64,
    /// Clients that dropped out.
    pub dropped: usize,
    /// Each client's neighbours.
    pub neighbours: usize,
    /// The threshold used.
    pub threshold: usize,
    /// The coordinator's time.
    pub coordinator_seconds: f64,
    /// A client's time.
    pub client_seconds: f64,
    /// Bytes a surviving client uploads.
    pub upload_bytes_per_client: f64,
    /// Bytes of one masked vector.
    pub masked_vector_bytes: usize,
    /// The decoded sum's largest error (quantisation).
    pub max_abs_error: f64,
}

/// Times one round of `clients` clients with `params` parameters, `dropout` of them dropping
/// out after sharing; SecAgg+ with `neighbours`, threshold `threshold` (defaults as in a run).
pub fn bench(
    clients: usize,
    params: usize,
    dropout: f64,
    neighbours: Option<usize>,
    threshold: Option<usize>,
    seed: u64,
) -> Result<Bench> {
    if !(0.0..1.0).contains(&dropout) || clients < 2 || params == 0 {
        return Err(Error::InvalidParameter {
            name: "bench",
            why: "--clients must be at least 2, --params at least 1, --dropout in [0, 1)".into(),
        });
    }
    let graph = Graph::for_round(neighbours, clients);
    let t = run(&TimedRound {
        clients,
        params,
        dropout,
        graph,
        threshold,
        seed,
    })?;
    Ok(Bench {
        tool: "veil",
        version: env!("CARGO_PKG_VERSION"),
        clients,
        params,
        dropout,
        dropped: t.dropped,
        neighbours: match graph {
            Graph::Complete => clients - 1,
            Graph::Harary { neighbours } => neighbours,
        },
        threshold: t.threshold,
        coordinator_seconds: t.coordinator.as_secs_f64(),
        client_seconds: t.client.as_secs_f64(),
        upload_bytes_per_client: t.upload_bytes_per_client,
        masked_vector_bytes: t.masked_vector_bytes,
        max_abs_error: t.max_abs_error,
    })
}

/// Runs `round` and reports its costs; an error if the sum comes out wrong.
pub fn run(round: &TimedRound) -> Result<RoundTiming> {
    let n = round.clients;
    let threshold = round
        .threshold
        .unwrap_or_else(|| round.graph.default_threshold(n));
    let dims = round.params;
    let mut rng = ChaCha20Rng::seed_from_u64(round.seed);
    let dropped_ids: Vec<ClientId> = (1..=n as ClientId).choose_multiple(
        &mut rng,
        ((round.dropout.clamp(0.0, 1.0) * n as f64).round()) as usize,
    );
    // Client i's update, drawn again when the sum is checked rather than all kept.
    let update = |i: usize| -> Vec<f64> {
        let mut rng = ChaCha20Rng::seed_from_u64(round.seed ^ ((i as u64 + 1) << 32));
        (0..dims).map(|_| rng.random_range(-1.0..=1.0)).collect()
    };
    let session = Session::random();
    let config = Config { threshold, dims };
    let quantizer = Quantizer::new(1.0, n)?;
    let mut client_time = vec![Duration::ZERO; n];
    let mut upload = vec![0usize; n];
    let mut server_time = Duration::ZERO;
    let mut server = Server::new(session, config, round.graph)?;
    let timed = |acc: &mut Duration, start: Instant| *acc += start.elapsed();
    // Every client signs as a party of a throwaway PKI (one identity, the same cost as many).
    let pki = tempfile::tempdir().map_err(|e| veil_core::Error::io("a temporary PKI", e))?;
    veil_net::pki::loopback(pki.path(), "coordinator", &["client"])?;
    let signer = veil_net::TlsIdentity::load(pki.path(), "client")?.signer()?;
    let verifier = signer.verifier().clone();

    // Stage 0: keys, signed.
    let mut clients = Vec::with_capacity(n);
    let mut signed_adverts = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (client, advert) = Client::new(i as ClientId + 1, session, config)?;
        let signed = signer.sign(super::ADVERT_CONTEXT, &advert.statement(&session))?;
        timed(&mut client_time[i], t);
        upload[i] += size(Body::Advert(wire::advert_out(&advert, &signed)));
        let t = Instant::now();
        veil_net::signed::check_signature(
            super::ADVERT_CONTEXT,
            &advert.statement(&session),
            &signed,
        )?;
        server.advert(advert)?;
        timed(&mut server_time, t);
        clients.push(client);
        signed_adverts.push(signed);
    }
    let t = Instant::now();
    server.close_roster()?;
    timed(&mut server_time, t);
    // Stage 1: shares.
    for (i, client) in clients.iter_mut().enumerate() {
        let id = i as ClientId + 1;
        let t = Instant::now();
        let roster = server.roster_for(id);
        timed(&mut server_time, t);
        let t = Instant::now();
        // The client checks every roster entry's signature before dealing.
        for a in &roster {
            let signed = &signed_adverts[a.id as usize - 1];
            verifier.verify(super::ADVERT_CONTEXT, &a.statement(&session), signed)?;
        }
        let shares = client.share_keys(&roster)?;
        timed(&mut client_time[i], t);
        upload[i] += size(Body::ShareKeys(wire::share_keys_out(&shares)));
        let t = Instant::now();
        server.share_keys(shares)?;
        timed(&mut server_time, t);
    }
    // Stage 2: masked inputs, from all but the dropouts; every client is told the whole U2.
    let t = Instant::now();
    let u2 = server.u2()?;
    timed(&mut server_time, t);
    let mut masked_vector_bytes = 0;
    for (i, client) in clients.iter_mut().enumerate() {
        let id = i as ClientId + 1;
        if dropped_ids.contains(&id) {
            continue;
        }
        let t = Instant::now();
        let sealed = server.shares_for(id);
        timed(&mut server_time, t);
        let values = update(i);
        let t = Instant::now();
        client.receive_shares(&sealed)?;
        let input = quantizer.encode(&values, &mut NoiseRng::from_os())?;
        let MaskedInput { masked, .. } = client.masked_input(&input, &u2)?;
        timed(&mut client_time[i], t);
        masked_vector_bytes = size(Body::Masked(SecAggMasked {
            masked: masked.clone(),
        }));
        upload[i] += masked_vector_bytes;
        let t = Instant::now();
        server.masked_input(MaskedInput { from: id, masked })?;
        timed(&mut server_time, t);
    }
    // Stage 3: unmasking.
    let t = Instant::now();
    let u3 = server.u3()?;
    timed(&mut server_time, t);
    // The consistency check: each survivor signs its view, and checks those of its roster.
    let mut views = Vec::with_capacity(u3.len());
    for &id in &u3 {
        let i = id as usize - 1;
        let t = Instant::now();
        let view = clients[i].survivors(&u3)?;
        let signed = signer.sign(super::VIEW_CONTEXT, &view)?;
        timed(&mut client_time[i], t);
        upload[i] += size(Body::Consistency(crate::proto::SecAggConsistency {
            signature: signed.signature.clone(),
        }));
        // The coordinator checks it before counting the round.
        let t = Instant::now();
        veil_net::signed::check_signature(super::VIEW_CONTEXT, &view, &signed)?;
        timed(&mut server_time, t);
        views.push((id, signed, view));
    }
    for &id in &u3 {
        let i = id as usize - 1;
        let t = Instant::now();
        let near: Vec<ClientId> = server.u3_for(id);
        for (_, signed, view) in views.iter().filter(|(v, ..)| near.contains(v)) {
            verifier.verify(super::VIEW_CONTEXT, view, signed)?;
        }
        let unmasking = clients[i].unmask(&u3)?;
        timed(&mut client_time[i], t);
        upload[i] += size(Body::Unmasking(wire::unmasking_out(&unmasking)));
        let t = Instant::now();
        server.unmasking(unmasking)?;
        timed(&mut server_time, t);
    }
    let t = Instant::now();
    let sum = quantizer.decode_sum(&server.finish()?);
    timed(&mut server_time, t);

    let mut want = vec![0.0; dims];
    for &id in &u3 {
        want.iter_mut()
            .zip(update(id as usize - 1))
            .for_each(|(w, v)| *w += v);
    }
    let max_abs_error = sum
        .iter()
        .zip(&want)
        .map(|(got, want)| (got - want).abs())
        .fold(0.0, f64::max);
    // Stochastic rounding moves each survivor's value by less than one unit.
    if max_abs_error > u3.len() as f64 / quantizer.scale() {
        return Err(Error::InvalidParameter {
            name: "bench",
            why: format!("the unmasked sum is off by {max_abs_error}: the round is broken"),
        });
    }
    let survivors = u3.len() as f64;
    Ok(RoundTiming {
        threshold,
        dropped: n - u3.len(),
        coordinator: server_time,
        client: u3
            .iter()
            .map(|&id| client_time[id as usize - 1])
            .sum::<Duration>()
            .div_f64(survivors),
        upload_bytes_per_client: u3.iter().map(|&id| upload[id as usize - 1]).sum::<usize>() as f64
            / survivors,
        masked_vector_bytes,
        max_abs_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_round_sums_correctly_and_counts_what_clients_upload() {
        for graph in [Graph::Complete, Graph::Harary { neighbours: 6 }] {
            let timing = run(&TimedRound {
                clients: 20,
                params: 1000,
                dropout: 0.1,
                graph,
                threshold: None,
                seed: 1,
            })
            .unwrap();
            assert_eq!(timing.dropped, 2);
            // 1,000 values are 4,000 bytes; the message adds a few bytes of framing.
            assert!((4000..4020).contains(&timing.masked_vector_bytes));
            assert!(timing.upload_bytes_per_client > timing.masked_vector_bytes as f64);
            assert_eq!(timing.dropped, 2);
        }
    }
}
