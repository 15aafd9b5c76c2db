//! Output: one JSON object on stdout, or a human report; progress bars on stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Prints `report` as one line of JSON with `--json`, else renders it with `human`.
pub fn show<T: Serialize>(json: bool, report: &T, human: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
    } else {
        human(report);
    }
    Ok(())
}

/// A report with the ledger entry that recorded it (`--ledger`), if any.
#[derive(Serialize)]
pub struct Recorded<'a, T> {
    /// The report.
    #[serde(flatten)]
    pub report: &'a T,
    /// The ledger entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// A progress bar over `total` steps on stderr; hidden when stderr is not a terminal or the
/// output is JSON.
pub fn bar(total: u64, what: &str, json: bool) -> ProgressBar {
    let target = if json || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Formats an optional metric with three decimals, or `–`.
pub fn metric(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

/// Says on stderr where a step was recorded (human output).
pub fn say_recorded(index: Option<u64>) {
    if let Some(index) = index {
        eprintln!("recorded as ledger entry {index}");
    }
}
