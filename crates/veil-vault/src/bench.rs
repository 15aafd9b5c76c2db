//! How fast this machine seals: raw AES-256-GCM beside Veil's sealing, in memory, on one
//! core and on all (what `veil vault bench` prints). Criterion benchmarks are in `benches/`;
//! this is the quick measurement a user runs on the machine that will do the work.

use std::time::Instant;

use serde::Serialize;

use crate::aead::Key;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::seal::{SealOptions, seal, seal_slice_into};

/// Throughputs in GiB/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SealSpeed {
    /// MiB of data per measurement.
    pub mib: usize,
    /// AES-256-GCM in place, 1 MiB chunks, one core.
    #[serde(rename = "raw_aes_256_gcm_gib_s")]
    pub raw: f64,
    /// The same cipher writing to a second buffer.
    #[serde(rename = "raw_out_of_place_gib_s")]
    pub raw_out_of_place: f64,
    /// `seal` from a reader to a writer, one thread.
    #[serde(rename = "seal_single_thread_gib_s")]
    pub seal_single: f64,
    /// `seal` on every core.
    #[serde(rename = "seal_all_cores_gib_s")]
    pub seal_all: f64,
    /// Cores used by "all cores".
    pub cores: usize,
    /// `seal` on one thread as a fraction of raw AES-GCM.
    pub single_thread_fraction_of_raw: f64,
    /// `seal_slice_into` (no copies), one thread.
    #[serde(rename = "seal_slice_single_thread_gib_s")]
    pub slice_single: f64,
    /// `seal_slice_into` on every core.
    #[serde(rename = "seal_slice_all_cores_gib_s")]
    pub slice_all: f64,
    /// `seal_slice_into` on one thread as a fraction of raw AES-GCM.
    pub seal_slice_single_thread_fraction_of_raw: f64,
}

/// The four measurements, one line each.
impl std::fmt::Display for SealSpeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "raw AES-256-GCM (aws-lc-rs), 1 core:  {:.2} GiB/s in place, {:.2} GiB/s out of place",
            self.raw, self.raw_out_of_place
        )?;
        writeln!(
            f,
            "veil seal in memory, 1 thread:        {:.2} GiB/s ({:.0}% of raw)",
            self.seal_single,
            100.0 * self.single_thread_fraction_of_raw
        )?;
        writeln!(
            f,
            "veil seal in memory, {} threads:       {:.2} GiB/s",
            self.cores, self.seal_all
        )?;
        writeln!(
            f,
            "veil seal_slice (no copies), 1 thread: {:.2} GiB/s ({:.0}% of raw); {} threads: {:.2} GiB/s",
            self.slice_single,
            100.0 * self.seal_slice_single_thread_fraction_of_raw,
            self.cores,
            self.slice_all
        )
    }
}

/// Best-of-three throughput in GiB/s of `f` over `bytes`; `f`'s first error stops it.
fn throughput(bytes: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        f()?;
        best = best.max(bytes as f64 / (1u64 << 30) as f64 / t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Measures sealing `mib` MiB (at least 1) in memory.
pub fn seal_speed(mib: usize) -> Result<SealSpeed> {
    let mib = mib.max(1);
    let len = mib << 20;
    let plain = vec![0x5au8; len];
    let key = Key::new(&veil_core::random::bytes());
    let chunk_nonce = |i: usize| {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        nonce
    };
    let mut buf = plain.clone();
    let raw = throughput(len, || {
        for (i, chunk) in buf.chunks_mut(1 << 20).enumerate() {
            std::hint::black_box(key.seal(chunk_nonce(i), b"", chunk));
        }
        Ok(())
    })?;
    let mut target = vec![0u8; len];
    let raw_out_of_place = throughput(len, || {
        for (i, (src, dst)) in plain
            .chunks(1 << 20)
            .zip(target.chunks_mut(1 << 20))
            .enumerate()
        {
            let mut tag = [0u8; 16];
            key.seal_into(chunk_nonce(i), src, dst, &mut tag);
            std::hint::black_box(tag);
        }
        Ok(())
    })?;
    drop(target);
    let me = Identity::generate();
    let recipients = [*me.public()];
    let options = SealOptions {
        recipients: &recipients,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(len + (len >> 10) + 4096);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::io("a thread pool", std::io::Error::other(e)))?;
    let seal_stream = |out: &mut Vec<u8>| {
        out.clear();
        seal(&plain[..], &mut *out, &options).map(|_| ())
    };
    let seal_single = throughput(len, || one.install(|| seal_stream(&mut out)))?;
    let seal_all = throughput(len, || seal_stream(&mut out))?;
    let slice_single = throughput(len, || {
        one.install(|| seal_slice_into(&plain, &mut out, &options))
    })?;
    let slice_all = throughput(len, || seal_slice_into(&plain, &mut out, &options))?;
    Ok(SealSpeed {
        mib,
        raw,
        raw_out_of_place,
        seal_single,
        seal_all,
        cores: rayon::current_num_threads(),
        single_thread_fraction_of_raw: seal_single / raw,
        slice_single,
        slice_all,
        seal_slice_single_thread_fraction_of_raw: slice_single / raw,
    })
}
