//! A federated run on one machine, for real: a coordinator and N clients, each a task with its
//! own shard of the data, every message going through gRPC over mutual TLS on loopback with
//! a throwaway PKI. Beside it, the same model trained on the pooled shards, for comparison.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Gamma};
use veil_core::Table;
use veil_core::split::train_test_split;
use veil_ml::pipeline::{Columns, Holdout, ModelConfig, prepare, train};
use veil_ml::{Model, Task};
use veil_net::pki;
use veil_net::transport::{bind, connect, server, spawn};
use veil_net::{Limits, TlsIdentity};

use crate::contributions::Contributions;
use crate::coordinator::{Coordinator, Plan};
use crate::error::{Error, Result};
use crate::participant::{
    Credentials, Dropout, LocalData, ParticipantReport, Requirements, participate,
};

/// How the training rows are dealt to the clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Partition {
    /// Shuffled and dealt evenly.
    Iid,
    /// Per class, shares drawn from a symmetric Dirichlet(α) over the clients (Hsu, Qi and
    /// Brown 2019): small α gives each client few classes.
    Dirichlet(f64),
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partition::Iid => f.write_str("iid"),
            Partition::Dirichlet(alpha) => write!(f, "dirichlet:{alpha}"),
        }
    }
}

impl std::str::FromStr for Partition {
    type Err = Error;

    fn from_str(s: &str) -> Result<Partition> {
        let bad = || Error::InvalidParameter {
            name: "split",
            why: format!("{s:?}: use iid or dirichlet:ALPHA with ALPHA > 0 (e.g. dirichlet:0.5)"),
        };
        if s == "iid" {
            return Ok(Partition::Iid);
        }
        let alpha: f64 = s
            .strip_prefix("dirichlet:")
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(bad());
        }
        Ok(Partition::Dirichlet(alpha))
    }
}

/// Deals `rows` (with their class `labels`) to `clients`, each getting at least two rows.
pub fn partition(
    labels: &[usize],
    clients: usize,
    how: Partition,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if clients == 0 || labels.len() < 2 * clients {
        return Err(Error::InvalidParameter {
            name: "clients",
            why: format!(
                "{} training rows cannot give {clients} clients two rows each",
                labels.len()
            ),
        });
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut shards = vec![Vec::new(); clients];
    match how {
        Partition::Iid => {
            let mut rows: Vec<usize> = (0..labels.len()).collect();
            rows.shuffle(&mut rng);
            for (i, r) in rows.into_iter().enumerate() {
                shards[i % clients].push(r);
            }
        }
        Partition::Dirichlet(alpha) => {
            let gamma = Gamma::new(alpha, 1.0).map_err(|e| Error::InvalidParameter {
                name: "split",
                why: e.to_string(),
            })?;
            let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (r, &c) in labels.iter().enumerate() {
                by_class.entry(c).or_default().push(r);
            }
            for rows in by_class.values_mut() {
                rows.shuffle(&mut rng);
                let weights: Vec<f64> = (0..clients)
                    .map(|_| gamma.sample(&mut rng) + 1e-12)
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut start = 0;
                let mut cumulative = 0.0;
                for (k, w) in weights.iter().enumerate() {
                    cumulative += w / total;
                    let end = if k + 1 == clients {
                        rows.len()
                    } else {
                        ((cumulative * rows.len() as f64).round() as usize).min(rows.len())
                    };
                    shards[k].extend_from_slice(&rows[start..end.max(start)]);
                    start = end.max(start);
                }
            }
        }
    }
    // Every client gets at least two rows: take them from the largest shard.
    for k in 0..clients {
        while shards[k].len() < 2 {
            let largest = (0..clients).max_by_key(|&j| shards[j].len()).unwrap_or(0);
            let row = shards[largest]
                .pop()
                .ok_or_else(|| Error::InvalidParameter {
                    name: "clients",
                    why: "too few rows".into(),
                })?;
            shards[k].push(row);
        }
    }
    Ok(shards)
}

/// A simulated run.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The data (path or builtin:NAME).
    pub data: String,
    /// The label column.
    pub label: String,
    /// The coordinator's plan (its clients per round and minimum are set to `clients`
    /// unless smaller).
    pub plan: Plan,
    /// Number of clients.
    pub clients: usize,
    /// How rows are dealt.
    pub partition: Partition,
    /// Seed of the test split and the partition.
    pub seed: u64,
    /// Probability that a selected client drops out of a round (see [`Dropout`]).
    pub dropout: f64,
}

/// What a simulated run measured.
#[derive(Debug, Clone)]
pub struct SimulationReport {
    /// The federated model.
    pub model: Model,
    /// Its accuracy on the held-out rows.
    pub test_accuracy: f64,
    /// The accuracy of the same model trained on the pooled training rows.
    pub centralised_accuracy: f64,
    /// Rounds run.
    pub rounds: usize,
    /// Rounds in which no update could be used.
    pub aborted_rounds: usize,
    /// Clients that left or missed a step.
    pub dropped_clients: usize,
    /// Mean bytes a client sent over the run.
    pub bytes_sent_per_client: f64,
    /// Mean wall time of a round.
    pub round_seconds: f64,
    /// Rows per client.
    pub shard_rows: Vec<usize>,
    /// With distributed DP: what the run spent.
    pub dp: Option<crate::coordinator::DpSpent>,
    /// What was simulated.
    pub simulation: Simulation,
}

/// The outcome for people: accuracy beside the centralised model's, then the costs.
impl std::fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plan = &self.simulation.plan;
        let secure = if plan.secure.is_some() {
            " with secure aggregation"
        } else {
            ""
        };
        let aggregator = match plan.aggregator {
            crate::aggregate::Aggregator::Mean => String::new(),
            other => format!(" ({other})"),
        };
        writeln!(
            f,
            "federated {}{secure}{aggregator}: test accuracy {:.4} (centralised {:.4}) after {} rounds over {} clients ({})",
            plan.kind,
            self.test_accuracy,
            self.centralised_accuracy,
            self.rounds,
            self.simulation.clients,
            self.simulation.partition
        )?;
        writeln!(
            f,
            "  rows per client {:?}; {:.1} KB sent per client; {:.3} s per round; {} aborted rounds, {} dropped clients",
            self.shard_rows,
            self.bytes_sent_per_client / 1e3,
            self.round_seconds,
            self.aborted_rounds,
            self.dropped_clients
        )?;
        match &self.dp {
            Some(dp) => writeln!(
                f,
                "  distributed DP: ε = {:.4} at δ = {:e} spent over {} unmasked sums; each client's noise σ = {:.4}",
                dp.epsilon, dp.delta, dp.unmasked, dp.sigma
            ),
            None => Ok(()),
        }
    }
}

/// The JSON of `veil fl simulate`: what was measured, and the settings it was measured with.
impl serde::Serialize for SimulationReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let sim = &self.simulation;
        let secure = sim.plan.secure;
        let mut st = s.serialize_struct("SimulationReport", 18)?;
        st.serialize_field("test_accuracy", &self.test_accuracy)?;
        st.serialize_field("centralised_accuracy", &self.centralised_accuracy)?;
        st.serialize_field("rounds", &self.rounds)?;
        st.serialize_field("aborted_rounds", &self.aborted_rounds)?;
        st.serialize_field("dropped_clients", &self.dropped_clients)?;
        st.serialize_field("bytes_sent_per_client", &self.bytes_sent_per_client)?;
        st.serialize_field("round_seconds", &self.round_seconds)?;
        st.serialize_field("clients", &sim.clients)?;
        st.serialize_field("split", &sim.partition.to_string())?;
        st.serialize_field("model", sim.plan.kind.name())?;
        st.serialize_field("shard_rows", &self.shard_rows)?;
        st.serialize_field("secagg", &secure.is_some())?;
        st.serialize_field("secagg_neighbours", &secure.and_then(|s| s.neighbours))?;
        st.serialize_field("aggregator", &sim.plan.aggregator.to_string())?;
        st.serialize_field("mu", &sim.plan.mu)?;
        st.serialize_field("dp_epsilon", &self.dp.map(|d| d.epsilon))?;
        st.serialize_field("dp_delta", &self.dp.map(|d| d.delta))?;
        st.serialize_field("dp_noise_sigma", &self.dp.map(|d| d.sigma))?;
        st.serialize_field("dp_sums_unmasked", &self.dp.map(|d| d.unmasked))?;
        st.end()
    }
}

impl Simulation {
    /// The cap each simulated client sets on its privacy: the plan's DP target.
    fn dp_cap(&self) -> Option<(f64, f64)> {
        let target = self.plan.secure.and_then(|s| s.dp)?;
        Some((target.epsilon, target.delta))
    }
}

/// The certificate name of simulated client `k` (1-based).
fn client_name(k: usize) -> String {
    format!("client-{k}")
}

/// Runs `sim`.
pub async fn simulate(sim: &Simulation) -> Result<SimulationReport> {
    if !(0.0..1.0).contains(&sim.dropout) {
        return Err(Error::InvalidParameter {
            name: "dropout",
            why: format!("{} is not a probability below 1", sim.dropout),
        });
    }
    let table = Table::load(&sim.data)?;
    let task = Task::infer(&table, &sim.label, Some(sim.plan.kind))?;
    let y = task.encode(&table, &sim.label)?;
    let classes: Vec<usize> = y.iter().map(|&v| v as usize).collect();
    let split = train_test_split(table.num_rows(), Some(&classes), 0.2, sim.seed)?;
    let train_labels: Vec<usize> = split.train.iter().map(|&r| classes[r]).collect();
    let shards = partition(&train_labels, sim.clients, sim.partition, sim.seed)?;
    let test = table.take(&split.test);

    // The comparison: the same model on the pooled training rows.
    let pooled = table.take(&split.train);
    let columns = Columns {
        label: sim.label.clone(),
        ..Default::default()
    };
    let prepared = prepare(
        &pooled,
        &columns,
        Some(sim.plan.kind),
        Holdout::Table(&test),
        true,
    )?;
    let mut config = ModelConfig::defaults(Some(sim.plan.kind), sim.seed);
    config.hidden = sim.plan.hidden.clone();
    config.activation = sim.plan.activation;
    let (central, _) = train(&prepared, &config, |_| {})?;
    let centralised_accuracy = accuracy(&central, &test)?;

    // A throwaway PKI, the coordinator on a free loopback port, and the clients.
    let pki_dir =
        tempfile::tempdir().map_err(|e| veil_core::Error::io("a temporary directory", e))?;
    let names: Vec<String> = (1..=sim.clients).map(client_name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    pki::loopback(pki_dir.path(), "coordinator", &names)?;
    let limits = Limits::default();
    let mut plan = sim.plan.clone();
    plan.clients_per_round = plan.clients_per_round.min(sim.clients);
    plan.min_clients = plan.min_clients.min(sim.clients);
    let coordinator = Coordinator::new(plan, limits.max_message_bytes)?;
    let incoming = bind((std::net::Ipv4Addr::LOCALHOST, 0).into())?;
    let addr = veil_net::transport::ServerAddr::from(
        incoming
            .local_addr()
            .map_err(|e| veil_core::Error::io("the coordinator's socket", e))?,
    );
    let tls = TlsIdentity::load(pki_dir.path(), "coordinator")?;
    let router = server(&tls, &limits)?.add_service(coordinator.service());
    let serving = spawn(router, incoming);

    let mut clients = Vec::with_capacity(sim.clients);
    for (k, rows) in shards.iter().enumerate() {
        let name = client_name(k + 1);
        let tls = TlsIdentity::load(pki_dir.path(), &name)?;
        let rows: Vec<usize> = rows.iter().map(|&i| split.train[i]).collect();
        let local = Arc::new(LocalData::new(table.take(&rows), &sim.label)?);
        let addr = addr.clone();
        let mut dropout = (sim.dropout > 0.0).then(|| Dropout {
            probability: sim.dropout,
            rng: ChaCha20Rng::seed_from_u64(sim.seed ^ (0x9e37_79b9_7f4a_7c15 * (k as u64 + 1))),
        });
        let credentials = Credentials {
            signer: tls.signer()?,
            coordinator: "coordinator".into(),
            // The clients insist on what the plan promises them.
            require: Requirements {
                secure: sim.plan.secure.is_some(),
                dp: sim.dp_cap(),
            },
        };
        // The client's record of its distributed-DP contributions outlives its rejoins.
        let contributions = Arc::new(Contributions::in_memory());
        clients.push(tokio::spawn(async move {
            let mut total = ParticipantReport {
                rounds: 0,
                bytes_sent: 0,
                finished: false,
            };
            // A client that dropped out joins again, as a restarted one would; until the
            // coordinator has seen its old stream close, it is refused as already connected.
            let mut refusals = 0;
            while !total.finished {
                let channel = connect(&addr, "coordinator", &tls, &limits).await?;
                match participate(
                    channel,
                    &credentials,
                    local.clone(),
                    limits.max_message_bytes,
                    contributions.clone(),
                    dropout.as_mut(),
                )
                .await
                {
                    Ok(r) => {
                        total.rounds += r.rounds;
                        total.bytes_sent += r.bytes_sent;
                        total.finished = r.finished;
                    }
                    Err(Error::Net(veil_net::Error::Call { status, .. }))
                        if status.code() == tonic::Code::AlreadyExists && refusals < 500 =>
                    {
                        refusals += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(total)
        }));
    }
    let run = tokio::time::timeout(Duration::from_secs(3600), coordinator.run())
        .await
        .map_err(|_| Error::TimedOut {
            what: "the simulated run",
            seconds: 3600,
        })??;
    let mut bytes = 0u64;
    for c in clients {
        let report = c.await??;
        bytes += report.bytes_sent;
    }
    serving.stop(Duration::from_secs(5)).await;

    let rounds = run.rounds.len();
    Ok(SimulationReport {
        test_accuracy: accuracy(&run.model, &test)?,
        centralised_accuracy,
        rounds,
        aborted_rounds: run.rounds.iter().filter(|r| r.aborted).count(),
        dropped_clients: run.dropped_clients,
        bytes_sent_per_client: bytes as f64 / sim.clients as f64,
        round_seconds: run.rounds.iter().map(|r| r.seconds).sum::<f64>() / rounds.max(1) as f64,
        shard_rows: shards.iter().map(Vec::len).collect(),
        dp: run.dp,
        model: run.model,
        simulation: sim.clone(),
    })
}

fn accuracy(model: &Model, test: &Table) -> Result<f64> {
    model
        .evaluate(test)?
        .accuracy
        .ok_or_else(|| Error::InvalidParameter {
            name: "model",
            why: "accuracy is defined for classifiers only".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_deal_every_row_once_and_dirichlet_skews_the_classes() {
        let labels: Vec<usize> = (0..600).map(|i| i % 2).collect();
        for how in [
            Partition::Iid,
            Partition::Dirichlet(0.1),
            Partition::Dirichlet(100.0),
        ] {
            let shards = partition(&labels, 5, how, 7).unwrap();
            let mut all: Vec<usize> = shards.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..600).collect::<Vec<_>>(), "{how:?}");
            assert!(shards.iter().all(|s| s.len() >= 2));
        }
        // With α = 0.1 some client's shard is far from half and half; with iid none is.
        let skew = |how| {
            partition(&labels, 5, how, 7)
                .unwrap()
                .iter()
                .map(|s| {
                    let ones = s.iter().filter(|&&r| labels[r] == 1).count() as f64;
                    (ones / s.len() as f64 - 0.5).abs()
                })
                .fold(0.0, f64::max)
        };
        assert!(skew(Partition::Dirichlet(0.1)) > 0.3);
        assert!(skew(Partition::Iid) < 0.1);
        assert_eq!(
            "dirichlet:0.5".parse::<Partition>().unwrap(),
            Partition::Dirichlet(0.5)
        );
        assert!("dirichlet:-1".parse::<Partition>().is_err());
        assert!("random".parse::<Partition>().is_err());
        assert!(partition(&labels[..5], 3, Partition::Iid, 1).is_err());
    }
}
