"""One round of Flower's SecAgg+ secure aggregation, timed stage by stage in one process.

    python bench/flower_secaggplus.py --clients N --params D --dropout P
        [--neighbours K] [--seed S] [--reconstruction-threshold T]

Needs bench/flower_requirements.txt (flwr 1.41). No Flower server, SuperLink or simulation
runtime runs here: the clients' side is the SecAgg+ client mod's own stage functions
(flwr/client/mod/secure_aggregation/secaggplus_mod.py: `_setup`, `_share_keys`,
`_collect_masked_vectors`, `_unmask`), called with the state and the ConfigRecord the mod
would hand them; the server's side follows the four stages of `SecAggPlusWorkflow`
(flwr/server/workflow/secure_aggregation/secaggplus_workflow.py) line by line, with the
Grid's message passing replaced by direct calls and Flower's helpers imported from
flwr/common/secure_aggregation/ (Shamir shares, ECDH + HKDF keys, Fernet, quantisation,
pseudo_rand_gen masks, ndarray arithmetic).

Each client's update is one float32 vector of D values in [-1, 1]. A fraction P of the
clients (chosen with the seed) drop out after share-keys: they never send a masked vector,
so the server must rebuild the pairwise masks they shared with their neighbours from t
shares of their mask key sk1 (the costly case). The survivors' self masks are rebuilt from
shares of their seeds.

Measured with time.perf_counter:
* coordinator_seconds: the server's compute over all four stages;
* client_seconds: a surviving client's compute over its four stages, mean over survivors;
* upload_bytes_per_client: what a surviving client sends the server, counted as it sits in
  the mod's reply (public keys, ciphertexts and shares: len of the bytes; the masked
  vector: len of the ndarray_to_bytes serialisation the mod sends; node IDs: 8 bytes each),
  mean over survivors;
* masked_vector_bytes: one client's masked vector as sent (the weight factor array and the
  int64 parameter array, each serialised by ndarray_to_bytes).

The aggregate is checked against the plain sum of the survivors' vectors; a mismatch beyond
quantisation error prints an error and exits 1. One JSON line goes to stdout, progress to
stderr.
"""
import argparse
import inspect
import json
import random
import sys
import time
from contextlib import contextmanager

import flwr
import numpy as np
from flwr.app import ConfigRecord
from flwr.client.mod.secure_aggregation.secaggplus_mod import (
    SecAggPlusState,
    _collect_masked_vectors,
    _setup,
    _share_keys,
    _unmask,
)
from flwr.common import bytes_to_ndarray, ndarrays_to_parameters
from flwr.common.secure_aggregation.crypto.shamir import combine_shares
from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
from flwr.common.secure_aggregation.ndarrays_arithmetic import (
    factor_extract,
    get_parameters_shape,
    parameters_addition,
    parameters_mod,
    parameters_subtraction,
)
from flwr.common.secure_aggregation.quantization import dequantize
from flwr.common.secure_aggregation.secaggplus_constants import Key
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

# SecAggPlusWorkflow's keyword defaults: max_weight 1000.0, clipping_range 8.0,
# quantization_range 2**22, modulus_range 2**32.
WORKFLOW_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(SecAggPlusWorkflow.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}
MAX_WEIGHT = WORKFLOW_DEFAULTS["max_weight"]
CLIPPING_RANGE = WORKFLOW_DEFAULTS["clipping_range"]
QUANTIZATION_RANGE = WORKFLOW_DEFAULTS["quantization_range"]
MODULUS_RANGE = WORKFLOW_DEFAULTS["modulus_range"]
# Every client reports num_examples = max_weight, so the mod's weight ratio is exactly 1
# (q_ratio = quantization_range): the masked sum is the plain sum of the quantised updates,
# and the workflow's final division by the total weight gives their plain mean.
NUM_EXAMPLES = int(MAX_WEIGHT)
NODE_ID_BYTES = 8  # node IDs are uint64 (flwr.common.constant.NODE_ID_NUM_BYTES)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


@contextmanager
def timed(totals, key):
    """Add the wall time of the block to totals[key]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - start


def reply_bytes(reply):
    """Bytes of a mod's reply dict as it goes to the server: bytes by length, ints as
    uint64 node IDs, lists element by element."""
    total = 0
    for value in reply.values():
        for item in value if isinstance(value, list) else [value]:
            total += len(item) if isinstance(item, bytes) else NODE_ID_BYTES
    return total


class Client:
    """One node running the SecAgg+ client mod: its mod state, its update, what it spends."""

    def __init__(self, nid, update):
        # The mod sets state.nid from the message's dst_node_id at the setup stage.
        self.state = SecAggPlusState(nid=nid)
        # The fit result as the mod receives it from the ClientApp (made outside the clock).
        self.parameters = ndarrays_to_parameters([update])
        self.seconds = 0.0
        self.upload_bytes = 0

    def run(self, stage, configs, *args):
        """Run one of the mod's stage functions on a message's configs; return the reply."""
        start = time.perf_counter()
        reply = stage(self.state, configs, *args)
        self.seconds += time.perf_counter() - start
        self.upload_bytes += reply_bytes(reply)
        return reply


def check_threshold(nid_to_neighbours, sampled, active, threshold):
    """SecAggPlusWorkflow._check_threshold: every node keeps t active neighbours."""
    return all(len(nid_to_neighbours[nid] & active) >= threshold for nid in sampled)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--params", type=int, required=True)
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="fraction of clients that drop out after share-keys")
    ap.add_argument("--neighbours", type=int,
                    help="Flower's num_shares: the size of each client's neighbourhood, "
                         "itself included (default: all clients, i.e. SecAgg)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reconstruction-threshold", type=int,
                    help="shares needed to rebuild a secret (default: floor(2K/3)+1)")
    args = ap.parse_args()
    n = args.clients
    if n < 3 or args.params < 1 or not 0 <= args.dropout < 1:
        ap.error("need --clients >= 3, --params >= 1 and 0 <= --dropout < 1")
    # num_shares as setup_stage settles it: all clients by default; an even count below the
    # number of clients is raised to the next odd one ("The number of shares should better
    # be odd in the SecAgg+ protocol"), as the workflow does when num_shares is a fraction.
    # (Given an even int, Flower 1.41 raises it only after sending the even count to the
    # clients, whose _share_keys then has one share too few for its 2*(K//2)+1 neighbours.)
    k = n if args.neighbours is None else args.neighbours
    if not 3 <= k <= n:
        ap.error("--neighbours must be in 3..clients (the workflow needs num_shares > 2)")
    if k < n and k % 2 == 0:
        k += 1
        log(f"num_shares raised to odd {k}, as SecAggPlusWorkflow.setup_stage does")
    # Flower has no default reconstruction_threshold (it is a required argument of
    # SecAggPlusWorkflow; a float is taken as a fraction of num_shares, floored at 2).
    # We use the 2/3 majority floor(2K/3)+1.
    t = args.reconstruction_threshold
    if t is None:
        t = 2 * k // 3 + 1
    if not 2 <= t <= k:
        ap.error(f"--reconstruction-threshold must be in 2..{k}")
    if n - round(args.dropout * n) < t:
        ap.error("the dropout leaves fewer than t clients: the round would abort")
    return args, k, t


def main():
    args, num_shares, threshold = parse_args()
    n, d = args.clients, args.params
    rng = np.random.default_rng(args.seed)
    # Flower draws from the global generators: random.shuffle for the neighbour ring,
    # np.random.rand for stochastic rounding in quantize.
    random.seed(args.seed)
    np.random.seed(args.seed)

    # Node IDs are random uint64s in Flower (kept below 2**63 here, and distinct).
    node_ids = []
    while len(node_ids) < n:
        nid = int(rng.integers(1, 2**63))
        if nid not in node_ids:
            node_ids.append(nid)
    updates = rng.uniform(-1.0, 1.0, size=(n, d)).astype(np.float32)
    clients = {nid: Client(nid, updates[i]) for i, nid in enumerate(node_ids)}
    dropped = {node_ids[i] for i in rng.choice(n, size=round(args.dropout * n), replace=False)}
    log(f"flwr {flwr.__version__}: {n} clients, {d} params, num_shares {num_shares}, "
        f"threshold {threshold}, {len(dropped)} drop out after share-keys")

    server = {}  # stage -> coordinator seconds

    def abort(msg):
        log(f"error: {msg}")
        sys.exit(1)

    # Stage 0, setup (SecAggPlusWorkflow.setup_stage; client: secaggplus_mod._setup).
    with timed(server, "setup"):
        sampled = list(node_ids)
        active = set(sampled)
        setup_configs = ConfigRecord({
            Key.SAMPLE_NUMBER: n,
            Key.SHARE_NUMBER: num_shares,
            Key.THRESHOLD: threshold,
            Key.CLIPPING_RANGE: CLIPPING_RANGE,
            Key.TARGET_RANGE: QUANTIZATION_RANGE,
            Key.MOD_RANGE: MODULUS_RANGE,
            Key.MAX_WEIGHT: MAX_WEIGHT,
        })
        # Neighbour graph: a ring over the shuffled node IDs; each node's neighbourhood is
        # the num_shares // 2 nodes either side of it, and itself.
        random.shuffle(sampled)
        half_share = num_shares >> 1
        nid_to_neighbours = {
            nid: {sampled[(idx + off) % n] for off in range(-half_share, half_share + 1)}
            for idx, nid in enumerate(sampled)
        }
    replies = {nid: clients[nid].run(_setup, setup_configs) for nid in active}
    with timed(server, "setup"):
        nid_to_publickeys = {
            nid: [r[Key.PUBLIC_KEY_1], r[Key.PUBLIC_KEY_2]] for nid, r in replies.items()
        }
        ok = check_threshold(nid_to_neighbours, sampled, active, threshold)
    if not ok:
        abort("insufficient available nodes after setup")
    log(f"setup: server {server['setup']:.3f} s")

    # Stage 1, share keys (share_keys_stage; client: _share_keys). Each node gets its
    # active neighbours' public keys and returns its Shamir shares of sk1 and of its
    # self-mask seed, Fernet-encrypted to each neighbour; the server routes them.
    with timed(server, "share_keys"):
        key_configs = {
            nid: ConfigRecord({
                str(v): nid_to_publickeys[v] for v in nid_to_neighbours[nid] & active
            })
            for nid in active
        }
    replies = {nid: clients[nid].run(_share_keys, key_configs[nid]) for nid in active}
    with timed(server, "share_keys"):
        fwd_ciphertexts = {nid: [] for nid in active}
        fwd_srcs = {nid: [] for nid in active}
        for src, r in replies.items():
            for dst, ciphertext in zip(r[Key.DESTINATION_LIST], r[Key.CIPHERTEXT_LIST],
                                       strict=True):
                if dst in fwd_ciphertexts:
                    fwd_ciphertexts[dst].append(ciphertext)
                    fwd_srcs[dst].append(src)
        ok = check_threshold(nid_to_neighbours, sampled, active, threshold)
    if not ok:
        abort("insufficient available nodes after share-keys")
    log(f"share-keys: server {server['share_keys']:.3f} s")

    # Stage 2, collect masked vectors (collect_masked_vectors_stage; client:
    # _collect_masked_vectors: decrypt shares, quantise, add the self mask and the pairwise
    # masks, reduce mod 2**32). The dropped clients get the message but never answer.
    with timed(server, "collect"):
        masked_configs = {
            nid: ConfigRecord({
                Key.CIPHERTEXT_LIST: fwd_ciphertexts[nid],
                Key.SOURCE_LIST: fwd_srcs[nid],
            })
            for nid in active
        }
    replies = {
        nid: clients[nid].run(
            _collect_masked_vectors, masked_configs[nid], NUM_EXAMPLES, clients[nid].parameters
        )
        for nid in active - dropped
    }
    masked_vector_bytes = reply_bytes(next(iter(replies.values())))
    with timed(server, "collect"):
        active = set(replies)
        masked_vector = None
        for r in replies.values():
            client_masked_vec = [bytes_to_ndarray(b) for b in r[Key.MASKED_PARAMETERS]]
            if masked_vector is None:
                masked_vector = client_masked_vec
            else:
                masked_vector = parameters_addition(masked_vector, client_masked_vec)
        masked_vector = parameters_mod(masked_vector, MODULUS_RANGE)
        ok = check_threshold(nid_to_neighbours, sampled, active, threshold)
    if not ok:
        abort("insufficient available nodes after collect-masked-vectors")
    log(f"collect-masked-vectors: server {server['collect']:.3f} s")

    # Stage 3, unmask (unmask_stage; client: _unmask). Each survivor returns, for each of
    # its neighbours, its share of the self-mask seed (survivors) or of sk1 (dropped).
    with timed(server, "unmask"):
        active_nids, dead_nids = active, set(sampled) - active
        unmask_configs = {
            nid: ConfigRecord({
                Key.ACTIVE_NODE_ID_LIST: list(nid_to_neighbours[nid] & active_nids),
                Key.DEAD_NODE_ID_LIST: list(nid_to_neighbours[nid] & dead_nids),
            })
            for nid in active
        }
    replies = {nid: clients[nid].run(_unmask, unmask_configs[nid]) for nid in active}
    with timed(server, "unmask"):
        collected_shares = {nid: [] for nid in sampled}
        for r in replies.values():
            for owner, share in zip(r[Key.NODE_ID_LIST], r[Key.SHARE_LIST], strict=True):
                collected_shares[owner].append(share)
        shapes = get_parameters_shape(masked_vector)
        for nid, shares in collected_shares.items():
            if len(shares) < threshold:
                abort("not enough shares to recover a secret in the unmask stage")
            secret = combine_shares(shares)
            if nid in active_nids:
                # The secret is a survivor's self-mask seed.
                private_mask = pseudo_rand_gen(secret, MODULUS_RANGE, shapes)
                masked_vector = parameters_subtraction(masked_vector, private_mask)
            else:
                # The secret is a dropped client's sk1: rebuild its pairwise masks.
                for neighbour in nid_to_neighbours[nid] - {nid}:
                    shared_key = generate_shared_key(
                        bytes_to_private_key(secret),
                        bytes_to_public_key(nid_to_publickeys[neighbour][0]),
                    )
                    pairwise_mask = pseudo_rand_gen(shared_key, MODULUS_RANGE, shapes)
                    if nid > neighbour:
                        masked_vector = parameters_addition(masked_vector, pairwise_mask)
                    else:
                        masked_vector = parameters_subtraction(
                            masked_vector, pairwise_mask
                        )
        recon_parameters = parameters_mod(masked_vector, MODULUS_RANGE)
        q_total_ratio, recon_parameters = factor_extract(recon_parameters)
        inv_dq_total_ratio = QUANTIZATION_RANGE / q_total_ratio
        aggregated_vector = dequantize(recon_parameters, CLIPPING_RANGE, QUANTIZATION_RANGE)
        offset = -(len(active_nids) - 1) * CLIPPING_RANGE
        for vec in aggregated_vector:
            vec += offset
            vec *= inv_dq_total_ratio
    log(f"unmask: server {server['unmask']:.3f} s")

    # The workflow's output is the weighted mean of the survivors' updates; with equal
    # weights, times the number of survivors it is their sum. Each client's stochastic
    # rounding is off by under one quantum (2 * clipping_range / quantization_range), plus
    # float32 rounding inside quantize; allow two quanta per survivor.
    survivors = sorted(active_nids)
    plain_sum = updates[[node_ids.index(nid) for nid in survivors]].astype(np.float64).sum(0)
    error = float(np.max(np.abs(aggregated_vector[0] * len(survivors) - plain_sum)))
    tolerance = len(survivors) * 2 * (2 * CLIPPING_RANGE / QUANTIZATION_RANGE)
    if not error <= tolerance:
        abort(f"aggregate differs from the plain sum by {error:.3g} (> {tolerance:.3g})")

    print(json.dumps({
        "tool": "flower",
        "version": flwr.__version__,
        "clients": n,
        "params": d,
        "dropout": args.dropout,
        "neighbours": num_shares,
        "threshold": threshold,
        "coordinator_seconds": round(sum(server.values()), 4),
        "client_seconds": round(float(np.mean([clients[c].seconds for c in survivors])), 4),
        "upload_bytes_per_client": round(float(np.mean(
            [clients[c].upload_bytes for c in survivors]))),
        "masked_vector_bytes": masked_vector_bytes,
        "max_abs_error": error,
    }))


if __name__ == "__main__":
    main()
