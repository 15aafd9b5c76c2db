//! Whole rounds, run stage by stage with clients dropping out at each stage: the sum is
//! exact whenever at least t clients are left, and a round below t aborts.

use super::*;
use crate::Error;

/// The stage at which a client stops answering: 0 sends nothing, 1 only its keys, 2 its
/// keys and shares, 3 everything but its signed view and unmasking shares.
type Drop = Option<u8>;

struct Round {
    session: Session,
    config: Config,
    graph: Graph,
    clients: Vec<(Client, Advert)>,
    inputs: Vec<Vec<u32>>,
}

fn round(n: usize, threshold: usize, dims: usize) -> Round {
    let session = Session::random();
    let config = Config { threshold, dims };
    let clients = (0..n)
        .map(|i| Client::new(i as ClientId + 1, session, config).unwrap())
        .collect();
    let inputs = (0..n)
        .map(|i| {
            (0..dims)
                .map(|j| (i * 7919 + j * 104_729) as u32 ^ 0xdead_beef)
                .collect()
        })
        .collect();
    Round {
        session,
        config,
        graph: Graph::Complete,
        clients,
        inputs,
    }
}

/// Runs the round with `drops[i]` for client i; returns the server's sum and the sum of the
/// inputs of the clients whose masked inputs arrived.
fn run(r: &mut Round, drops: &[Drop]) -> crate::Result<(Vec<u32>, Vec<u32>)> {
    let mut server = Server::new(r.session, r.config, r.graph)?;
    let alive = |i: usize, stage: u8| drops[i].is_none_or(|d| d > stage);
    for (i, (_, advert)) in r.clients.iter().enumerate() {
        if alive(i, 0) {
            server.advert(advert.clone())?;
        }
    }
    server.close_roster()?;
    for (i, (client, advert)) in r.clients.iter_mut().enumerate() {
        if alive(i, 1) {
            server.share_keys(client.share_keys(&server.roster_for(advert.id))?)?;
        }
    }
    // Every client is told the whole round's U2 and U3, and keeps the part in its roster.
    let u2 = server.u2()?;
    for (i, (client, advert)) in r.clients.iter_mut().enumerate() {
        if alive(i, 2) {
            client.receive_shares(&server.shares_for(advert.id))?;
            server.masked_input(client.masked_input(&r.inputs[i], &u2)?)?;
        }
    }
    let u3 = server.u3()?;
    let mut confirmed = Vec::new();
    for (i, (client, advert)) in r.clients.iter_mut().enumerate() {
        if alive(i, 3) {
            client.survivors(&u3)?;
            confirmed.push(advert.id);
        }
    }
    for (i, (client, _)) in r.clients.iter_mut().enumerate() {
        if alive(i, 3) {
            server.unmasking(client.unmask(&confirmed)?)?;
        }
    }
    let mut want = vec![0u32; r.config.dims];
    for id in &u3 {
        for (w, x) in want.iter_mut().zip(&r.inputs[*id as usize - 1]) {
            *w = w.wrapping_add(*x);
        }
    }
    Ok((server.finish()?, want))
}

#[test]
fn the_sum_is_exact_with_0_10_and_30_percent_dropping_at_every_stage() {
    let (n, t) = (20, 14); // t = ⌊2n/3⌋ + 1
    for stage in 0..=3u8 {
        for fraction in [0.0, 0.1, 0.3] {
            let mut r = round(n, t, 300);
            let dropped = (fraction * n as f64) as usize;
            // Spread the dropouts over the ids: both orders of every pair get exercised.
            let drops: Vec<Drop> = (0..n)
                .map(|i| (i % 3 == 1 && i / 3 < dropped).then_some(stage))
                .collect();
            assert_eq!(drops.iter().flatten().count(), dropped.min(7));
            let (sum, want) = run(&mut r, &drops).unwrap();
            assert_eq!(sum, want, "{dropped} dropped at stage {stage}");
        }
    }
}

#[test]
fn too_many_dropouts_abort_the_round_at_any_stage() {
    for stage in 0..=3u8 {
        let mut r = round(9, 7, 10);
        let drops: Vec<Drop> = (0..9).map(|i| (i < 3).then_some(stage)).collect();
        let err = run(&mut r, &drops).unwrap_err();
        assert!(matches!(err, Error::Aborted { .. }), "stage {stage}: {err}");
    }
}

#[test]
fn a_masked_input_on_its_own_is_uniformly_random() {
    // All-zero inputs: what the server stores of one client is its masks alone. χ² of the
    // 16 values of each 4-bit nibble over 20,000 × 8 nibbles against uniform, p < 10⁻⁴
    // (critical 43.8 for 15 degrees of freedom); and it is not the input.
    let mut r = round(5, 4, 20_000);
    r.inputs = vec![vec![0; 20_000]; 5];
    let mut server = Server::new(r.session, r.config, r.graph).unwrap();
    for (_, a) in &r.clients {
        server.advert(a.clone()).unwrap();
    }
    server.close_roster().unwrap();
    for (c, a) in r.clients.iter_mut() {
        server
            .share_keys(c.share_keys(&server.roster_for(a.id)).unwrap())
            .unwrap();
    }
    let u2 = server.u2().unwrap();
    let (client, advert) = &mut r.clients[0];
    client
        .receive_shares(&server.shares_for(advert.id))
        .unwrap();
    let y = client.masked_input(&r.inputs[0], &u2).unwrap().masked;
    let mut counts = [0u64; 16];
    for v in &y {
        for k in 0..8 {
            counts[((v >> (4 * k)) & 15) as usize] += 1;
        }
    }
    let expected = (y.len() * 8) as f64 / 16.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(chi2 < 43.8, "χ² = {chi2}");
    assert!(y.iter().filter(|&&v| v == 0).count() < 5);
}

#[test]
fn garbage_shares_and_replays_are_rejected_and_the_round_survives_them() {
    let mut r = round(7, 4, 50);
    let mut server = Server::new(r.session, r.config, r.graph).unwrap();
    for (_, a) in &r.clients {
        server.advert(a.clone()).unwrap();
    }
    assert!(server.advert(r.clients[0].1.clone()).is_err(), "keys twice");
    server.close_roster().unwrap();
    let roster = server.roster_for(1);
    for (c, _) in r.clients.iter_mut() {
        let msg = c.share_keys(&roster).unwrap();
        server.share_keys(msg).unwrap();
    }
    let u2 = server.u2().unwrap();
    // Shares sealed in another round (same parties, other session) do not open, nor do
    // tampered ones; either ends the receiving client's round.
    let mut other = round(7, 4, 50);
    let other_roster: Vec<Advert> = other.clients.iter().map(|(_, a)| a.clone()).collect();
    for (c, _) in other.clients.iter_mut().take(2) {
        c.share_keys(&other_roster).unwrap();
    }
    assert!(
        other.clients[0]
            .0
            .receive_shares(&server.shares_for(1))
            .is_err()
    );
    let mut tampered: Vec<SealedShare> = other.clients[0]
        .0
        .share_keys(&other_roster)
        .map(|m| m.sealed)
        .unwrap_or_default();
    assert!(
        tampered.is_empty(),
        "a client out of its round deals nothing"
    );
    let mut third = round(7, 4, 50);
    let third_roster: Vec<Advert> = third.clients.iter().map(|(_, a)| a.clone()).collect();
    let dealt = third.clients[1].0.share_keys(&third_roster).unwrap();
    tampered = dealt.sealed.into_iter().filter(|s| s.to == 1).collect();
    tampered[0].ciphertext[3] ^= 1;
    third.clients[0].0.share_keys(&third_roster).unwrap();
    assert!(third.clients[0].0.receive_shares(&tampered).is_err());
    for (i, (c, a)) in r.clients.iter_mut().enumerate() {
        c.receive_shares(&server.shares_for(a.id)).unwrap();
        server
            .masked_input(c.masked_input(&r.inputs[i], &u2).unwrap())
            .unwrap();
    }
    assert!(
        server
            .masked_input(MaskedInput {
                from: 1,
                masked: vec![0; 50]
            })
            .is_err(),
        "twice"
    );
    assert!(
        server
            .masked_input(MaskedInput {
                from: 99,
                masked: vec![0; 50]
            })
            .is_err(),
        "stranger"
    );
    let u3 = server.u3().unwrap();
    // Client 3 is shown a U3 outside U2, refuses it, and is out of the round.
    assert!(r.clients[2].0.survivors(&[1, 2, 3, 4, 77]).is_err());
    assert!(r.clients[2].0.survivors(&u3).is_err(), "no second try");
    for (c, _) in r.clients.iter_mut() {
        let _ = c.survivors(&u3);
    }
    // Fewer than t signatures on client 7's view: it reveals nothing (and is out).
    assert!(matches!(
        r.clients[6].0.unmask(&[1, 2, 6]),
        Err(Error::Aborted { .. })
    ));
    let confirmed = [1, 2, 4, 5, 6];
    // Client 1 sends a garbage share: rejected whole; clients 2, 4, 5 and 6 are enough
    // (t = 4).
    let mut bad = r.clients[0].0.unmask(&confirmed).unwrap();
    bad.seeds[2].1[5] ^= 0x40;
    assert!(matches!(
        server.unmasking(bad),
        Err(Error::Rejected { from: 1, .. })
    ));
    // A share repeated in one message (which would cancel itself out of the interpolation
    // and corrupt the sum silently) is refused; the sender may still send it once.
    let msg = r.clients[1].0.unmask(&confirmed).unwrap();
    let mut repeated = msg.clone();
    repeated.seeds.push(repeated.seeds[0].clone());
    let err = server.unmasking(repeated).unwrap_err();
    assert!(err.to_string().contains("two shares for client"), "{err}");
    // Its Debug names dealers, never shares.
    let shown = format!("{msg:?}");
    let share = format!("{:?}", msg.seeds[0].1);
    assert!(
        shown.contains("seeds_for") && !shown.contains(&share[1..20]),
        "{shown}"
    );
    // A client asked twice answers once.
    assert!(r.clients[1].0.unmask(&confirmed).is_err());
    server.unmasking(msg).unwrap();
    for (c, _) in r.clients.iter_mut().skip(3).take(3) {
        server.unmasking(c.unmask(&confirmed).unwrap()).unwrap();
    }
    let mut want = vec![0u32; 50];
    for x in &r.inputs {
        want.iter_mut()
            .zip(x)
            .for_each(|(w, v)| *w = w.wrapping_add(*v));
    }
    assert_eq!(server.finish().unwrap(), want);
}

#[test]
fn secagg_plus_sums_exactly_over_a_sparse_graph_with_dropouts_at_every_stage() {
    // 40 clients, each sharing with 8 neighbours (t = 6 of the 9 in a neighbourhood): a
    // client deals 9 shares, not 40, and the sum is still exact when clients drop out. The
    // graph is drawn from the session's randomness, so the drops must be harmless on any
    // graph: three dropped clients leave every neighbourhood at least 9 - 3 = 6 = t.
    let n = 40;
    for stage in 0..=3u8 {
        let mut r = round(n, 6, 64);
        r.graph = Graph::Harary { neighbours: 8 };
        let drops: Vec<Drop> = (0..n)
            .map(|i| [3, 13, 23].contains(&i).then_some(stage))
            .collect();
        let (sum, want) = run(&mut r, &drops).unwrap();
        assert_eq!(sum, want, "dropped at stage {stage}");
    }
    // Every neighbourhood: the client, 8 others, and symmetric.
    let mut r = round(n, 6, 4);
    r.graph = Graph::Harary { neighbours: 8 };
    let mut server = Server::new(r.session, r.config, r.graph).unwrap();
    for (_, a) in &r.clients {
        server.advert(a.clone()).unwrap();
    }
    server.close_roster().unwrap();
    for u in 1..=n as ClientId {
        let near: Vec<ClientId> = server.roster_for(u).iter().map(|a| a.id).collect();
        assert_eq!(near.len(), 9);
        assert!(near.contains(&u));
        for v in near {
            assert!(server.roster_for(v).iter().any(|a| a.id == u));
        }
    }
    // A client whose shares skip a neighbour, or reach a stranger, is refused.
    let (client, advert) = &mut r.clients[0];
    let mut skewed = server.roster_for(advert.id);
    skewed.pop();
    let msg = client.share_keys(&skewed).unwrap();
    assert!(server.share_keys(msg).is_err());
    // A neighbourhood cannot be smaller than the threshold.
    assert!(Server::new(r.session, r.config, Graph::Harary { neighbours: 4 }).is_err());
}

#[test]
fn secagg_plus_aborts_when_a_neighbourhood_loses_too_many() {
    // 12 clients on a ring, each with the 2 on either side (neighbourhoods of 5, t = 4), and
    // 5 drop out after the roster: 7 are left, above t, but 5 dropped clients on a ring of
    // 12 cannot all be 3 apart, so whatever ring the server draws, some neighbourhood keeps
    // fewer than t, and the round aborts.
    for stage in 1..=3u8 {
        let mut r = round(12, 4, 8);
        r.graph = Graph::Harary { neighbours: 4 };
        let drops: Vec<Drop> = (0..12).map(|i| (i < 5).then_some(stage)).collect();
        let err = run(&mut r, &drops).unwrap_err();
        assert!(matches!(err, Error::Aborted { .. }), "stage {stage}: {err}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn any_dropout_pattern_gives_the_exact_sum_or_an_abort(
        n in 3usize..14,
        t_off in 0usize..3,
        neighbours in proptest::option::of(2usize..8),
        drops in proptest::collection::vec(proptest::option::weighted(0.3, 0u8..4), 14),
    ) {
        // t is more than half of what each client deals to (clients refuse less).
        let t = match neighbours {
            Some(k) if k + 1 < n => (k + 1 - t_off).max(k.div_ceil(2) + 1),
            _ => (n - t_off).max(n / 2 + 1),
        };
        let mut r = round(n, t, 17);
        if let Some(neighbours) = neighbours {
            r.graph = Graph::Harary { neighbours };
        }
        match run(&mut r, &drops[..n]) {
            Ok((sum, want)) => proptest::prop_assert_eq!(sum, want),
            Err(e) => proptest::prop_assert!(matches!(e, Error::Aborted { .. }), "{}", e),
        }
    }
}

#[test]
fn quantised_updates_come_out_of_secure_aggregation_as_their_plain_sum() {
    // Real updates in [−1, 1], encoded for 8 clients; one drops after sharing. The decoded
    // aggregate equals the plain sum of the survivors' updates within one unit per client.
    let q = veil_core::fixed::Quantizer::new(1.0, 8).unwrap();
    let mut rng = veil_core::noise::NoiseRng::insecure_seeded(3);
    let updates: Vec<Vec<f64>> = (0..8)
        .map(|i| {
            (0..40)
                .map(|j| ((i * 40 + j) as f64 * 0.37).sin())
                .collect()
        })
        .collect();
    let mut r = round(8, 6, 40);
    r.inputs = updates
        .iter()
        .map(|u| q.encode(u, &mut rng).unwrap())
        .collect();
    let drops: Vec<Drop> = (0..8).map(|i| (i == 5).then_some(2)).collect();
    let (sum, _) = run(&mut r, &drops).unwrap();
    let got = q.decode_sum(&sum);
    for (j, g) in got.iter().enumerate() {
        let want: f64 = (0..8).filter(|&i| i != 5).map(|i| updates[i][j]).sum();
        assert!((g - want).abs() <= 7.0 / q.scale(), "{j}: {g} vs {want}");
    }
}

#[test]
fn a_rebuilt_self_mask_seed_must_match_the_commitment_in_its_advert() {
    // Client 1 tells the server a seed commitment other than the one its own roster entry
    // carries (a client that deals shares of one b and masks with another looks the same):
    // the round refuses to unmask rather than return a wrong sum.
    let mut r = round(4, 3, 8);
    let mut server = Server::new(r.session, r.config, r.graph).unwrap();
    let genuine: Vec<Advert> = r.clients.iter().map(|(_, a)| a.clone()).collect();
    for a in &genuine {
        let mut told = a.clone();
        if a.id == 1 {
            told.seed_commitment[0] ^= 1;
        }
        server.advert(told).unwrap();
    }
    server.close_roster().unwrap();
    for (c, _) in r.clients.iter_mut() {
        server.share_keys(c.share_keys(&genuine).unwrap()).unwrap();
    }
    let u2 = server.u2().unwrap();
    for (i, (c, a)) in r.clients.iter_mut().enumerate() {
        c.receive_shares(&server.shares_for(a.id)).unwrap();
        server
            .masked_input(c.masked_input(&r.inputs[i], &u2).unwrap())
            .unwrap();
    }
    let u3 = server.u3().unwrap();
    for (c, _) in r.clients.iter_mut() {
        c.survivors(&u3).unwrap();
    }
    for (c, _) in r.clients.iter_mut() {
        server.unmasking(c.unmask(&u3).unwrap()).unwrap();
    }
    let err = server.finish().unwrap_err();
    assert!(err.to_string().contains("self-mask seed"), "{err}");
}

#[test]
fn a_threshold_that_is_not_a_majority_of_the_roster_is_refused() {
    // With t at most half the roster, two disjoint groups of t could each be shown their
    // own view and each confirm it: clients refuse such a round before dealing a share.
    let mut r = round(4, 2, 8);
    let roster: Vec<Advert> = r.clients.iter().map(|(_, a)| a.clone()).collect();
    let err = r.clients[0].0.share_keys(&roster).err().unwrap();
    assert!(err.to_string().contains("half the roster"), "{err}");
    let mut ok = round(3, 2, 8);
    let roster: Vec<Advert> = ok.clients.iter().map(|(_, a)| a.clone()).collect();
    assert!(ok.clients[0].0.share_keys(&roster).is_ok());
}
