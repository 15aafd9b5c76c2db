//! `veil data inspect | export | split`

use serde_json::json;
use veil_core::split::train_test_split;
use veil_core::{Sha256Digest, Table};
use veil_ml::task::sorted_classes;

use crate::cli::DataCommand;
use crate::report;

pub fn run(cmd: &DataCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Inspect { data } => inspect(data, json),
        DataCommand::Digest { files } => digest(files, json),
        DataCommand::Export { data, output } => {
            let table = Table::load(data)?;
            table.save(output)?;
            if json {
                report::json(&json!({
                    "output": output,
                    "rows": table.num_rows(),
                    "columns": table.columns().len(),
                }))
            } else {
                println!(
                    "wrote {} rows × {} columns to {}",
                    table.num_rows(),
                    table.columns().len(),
                    output.display()
                );
                Ok(())
            }
        }
        DataCommand::Split {
            data,
            label,
            test_fraction,
            seed,
            train,
            test,
        } => {
            let table = Table::load(data)?;
            table.require_rows()?;
            let strata = match label {
                Some(label) => {
                    let labels = table.class_labels(label)?;
                    let classes = sorted_classes(&labels);
                    Some(
                        labels
                            .iter()
                            .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
                            .collect::<Vec<_>>(),
                    )
                }
                None => None,
            };
            let split =
                train_test_split(table.num_rows(), strata.as_deref(), *test_fraction, *seed)?;
            table.take(&split.train).save(train)?;
            if let Err(e) = table.take(&split.test).save(test) {
                // Do not leave half a split behind.
                let _ = std::fs::remove_file(train);
                return Err(e.into());
            }
            if json {
                report::json(&json!({
                    "train": train, "test": test,
                    "train_rows": split.train.len(), "test_rows": split.test.len(),
                    "seed": seed, "stratified": label.is_some(),
                }))
            } else {
                println!(
                    "wrote {} training rows to {} and {} test rows to {}",
                    split.train.len(),
                    train.display(),
                    split.test.len(),
                    test.display()
                );
                Ok(())
            }
        }
    }
}

fn digest(files: &[std::path::PathBuf], json: bool) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(files.len());
    for file in files {
        let digest = Sha256Digest::of_file(file)?;
        let bytes = std::fs::metadata(file)
            .map_err(|e| veil_core::Error::io(file, e))?
            .len();
        if !json {
            println!("{digest}  {}", file.display());
        }
        rows.push(json!({"path": file, "sha256": digest.to_hex(), "bytes": bytes}));
    }
    if json {
        report::json(&json!({ "files": rows }))?;
    }
    Ok(())
}

fn inspect(data: &str, json: bool) -> anyhow::Result<()> {
    let table = Table::load(data)?;
    tracing::info!(
        rows = table.num_rows(),
        columns = table.columns().len(),
        "loaded {data}"
    );
    let summary = table.summarize();
    if json {
        return report::json(&json!({
            "source": data,
            "rows": table.num_rows(),
            "columns": summary,
        }));
    }
    println!(
        "{data}: {} rows × {} columns",
        table.num_rows(),
        summary.len()
    );
    let width = summary
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<width$}  {:<8} {:>8} {:>9} {:>12} {:>12} {:>12}",
        "column", "type", "missing", "distinct", "min", "max", "mean"
    );
    let num = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
    for s in &summary {
        println!(
            "{:<width$}  {:<8} {:>8} {:>9} {:>12} {:>12} {:>12}",
            s.name,
            s.data_type,
            s.missing,
            s.distinct,
            num(s.min),
            num(s.max),
            num(s.mean)
        );
    }
    Ok(())
}
