//! `veil data inspect | export | digest | split`

use veil_core::Table;
use veil_core::digest::FileDigest;
use veil_core::split::split_table;

use crate::cli::DataCommand;
use crate::report::show;

pub fn run(cmd: &DataCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Inspect { data } => {
            let inspection = Table::load(data)?.inspect();
            show(json, &inspection, |r| print!("{r}"))
        }
        DataCommand::Digest { files } => {
            #[derive(serde::Serialize)]
            struct Digests {
                files: Vec<FileDigest>,
            }
            let files = files
                .iter()
                .map(|f| FileDigest::of(f))
                .collect::<veil_core::Result<Vec<_>>>()?;
            show(json, &Digests { files }, |r| {
                for f in &r.files {
                    println!("{}  {}", f.sha256, f.path.display());
                }
            })
        }
        DataCommand::Export { data, output } => {
            let exported = Table::load(data)?.export(output)?;
            show(json, &exported, |r| {
                println!(
                    "wrote {} rows × {} columns to {}",
                    r.rows,
                    r.columns,
                    r.output.display()
                );
            })
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
            let split = split_table(
                &table,
                label.as_deref(),
                *test_fraction,
                *seed,
                (train, test),
            )?;
            show(json, &split, |r| {
                println!(
                    "wrote {} training rows to {} and {} test rows to {}",
                    r.train_rows,
                    r.train.display(),
                    r.test_rows,
                    r.test.display()
                );
            })
        }
    }
}
