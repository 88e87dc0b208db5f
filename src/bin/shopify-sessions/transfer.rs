//! Backups and migrations: `export` and `import`.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::ExitCode,
    time::SystemTime,
};

use clap::{ArgGroup, Args, ValueEnum};
use serde_json::json;
use shopify_session_storage::transfer::{
    ExportFormat, ImportReport, Incoming, export, export_to_file, import, parse_line,
    sqlite::{self, SqliteLayout},
};

use crate::{
    Outcome,
    output::Output,
    target::{Store, Target},
};

/// Write every served session as JSON lines, ordered by shop and id: a backup. It holds
/// access tokens.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file (created with mode 0600, written whole or not at all) rather than
    /// to stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The shape of each line: Shopify's `toObject()` (lossless) or `toPropertyArray(true)`.
    #[arg(long, value_enum, default_value_t = Format::Object)]
    format: Format,
}

/// The shape of an exported line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Object,
    PropertyArray,
}

/// Import sessions (an upsert) from JSON lines, or from Shopify's SQLite, Prisma or Redis
/// session stores. A record that cannot be imported is skipped and named; it never stops the
/// rest.
#[derive(Debug, Args)]
#[command(group = ArgGroup::new("source").required(true))]
pub struct ImportArgs {
    /// JSON lines in either shape (told apart line by line); `-` reads stdin.
    #[arg(value_name = "FILE", group = "source")]
    file: Option<PathBuf>,
    /// The SQLite file of Shopify's SQLite session adapter (table shopify_sessions) or of
    /// Prisma's Session model (table Session).
    #[arg(long, value_name = "FILE", group = "source")]
    from_sqlite: Option<PathBuf>,
    /// The table to read, when it is not shopify_sessions or Session.
    #[arg(long, value_name = "NAME", requires = "from_sqlite")]
    table: Option<String>,
    /// A Redis in the layout of Shopify's Node Redis adapter (its key prefix: --prefix).
    #[cfg(feature = "redis")]
    #[arg(long, value_name = "URL", group = "source")]
    from_redis: Option<String>,
    /// Read and check everything, and report what would be imported, without writing.
    #[arg(long)]
    dry_run: bool,
}

/// `export`: to a file (and a summary on stdout) or to stdout.
pub async fn export_sessions(args: ExportArgs, store: &Store, output: &Output) -> Outcome {
    let format = match args.format {
        Format::Object => ExportFormat::Object,
        Format::PropertyArray => ExportFormat::PropertyArray,
    };
    let progress = output.progress("exporting");
    let now = SystemTime::now();
    let report = match &args.file {
        Some(file) => {
            export_to_file(store.admin(), format, now, file, &mut || progress.inc(1)).await
        }
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            export(store.admin(), format, now, &mut stdout, &mut || {
                progress.inc(1)
            })
            .await
        }
    };
    progress.finish_and_clear();
    let report = report?;
    for (id, reason) in &report.unreadable {
        output.warn(&format!(
            "record {id:?} does not decode and was not exported: {reason}"
        ));
    }
    match &args.file {
        Some(file) => {
            output.note(&format!(
                "{} holds access tokens (created with mode 0600): keep it as you keep secrets",
                file.display()
            ));
            if output.json() {
                output.document(&json!({
                    "exported": report.exported,
                    "expired_skipped": report.expired_skipped,
                    "unreadable": report.unreadable.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                    "file": file.display().to_string(),
                }));
            } else {
                println!(
                    "exported {} sessions to {} ({} past their deadline left out)",
                    report.exported,
                    file.display(),
                    report.expired_skipped
                );
            }
        }
        None => output.note(&format!(
            "exported {} sessions; the output holds access tokens: keep it as you keep secrets",
            report.exported
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// `import`: reads the source whole (a SQLite table or a Redis) or line by line (JSON lines),
/// then upserts.
pub async fn import_sessions(
    args: ImportArgs,
    target: &Target,
    store: &Store,
    output: &Output,
) -> Outcome {
    let progress = output.progress("importing");
    let now = SystemTime::now();
    let mut tick = || progress.inc(1);
    let report = if let Some(path) = &args.from_sqlite {
        let read = sqlite::read(path, args.table.as_deref())?;
        output.note(&format!(
            "reading table {:?} of {}: {}",
            read.table,
            path.display(),
            match read.layout {
                SqliteLayout::Prisma =>
                    "Prisma's Session model (dates in milliseconds or ISO text)",
                _ => "Shopify's SQLite session adapter (dates in seconds)",
            }
        ));
        import(store.admin(), read.records, args.dry_run, now, &mut tick).await?
    } else if let Some(file) = &args.file {
        import_lines(file, store, args.dry_run, now, &mut tick).await?
    } else {
        #[cfg(feature = "redis")]
        if let Some(url) = &args.from_redis {
            let records = read_redis(url, &target.prefix).await?;
            import(store.admin(), records, args.dry_run, now, &mut tick).await?
        } else {
            unreachable!("clap requires a source")
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = target;
            unreachable!("clap requires a source")
        }
    };
    progress.finish_and_clear();
    print_report(&report, output);
    Ok(ExitCode::SUCCESS)
}

/// Imports JSON lines as they are read; an I/O error stops the import (what was imported stays).
async fn import_lines(
    file: &PathBuf,
    store: &Store,
    dry_run: bool,
    now: SystemTime,
    tick: &mut (dyn FnMut() + Send),
) -> Result<ImportReport, Box<dyn std::error::Error>> {
    let reader: Box<dyn BufRead + Send> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|error| format!("cannot open {}: {error}", file.display()))?;
        Box::new(BufReader::new(opened))
    };
    let failure = std::sync::Mutex::new(None);
    let records = reader
        .lines()
        .enumerate()
        .map_while(|(index, line)| match line {
            Ok(line) => Some((index, line)),
            Err(error) => {
                *failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
                None
            }
        })
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| Incoming::new(format!("line {}", index + 1), parse_line(&line)));
    let report = import(store.admin(), records, dry_run, now, tick).await?;
    let failed = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(error) = failed {
        return Err(format!(
            "cannot read {} (the lines before were imported): {error}",
            file.display()
        )
        .into());
    }
    Ok(report)
}

/// Every session of a Redis in the Node adapter's layout, as records.
#[cfg(feature = "redis")]
async fn read_redis(
    url: &str,
    prefix: &str,
) -> Result<Vec<Incoming>, shopify_session_storage::Error> {
    use shopify_session_storage::{
        RedisSessionStorage,
        admin::{AdminStorage, Walked},
    };
    let source = RedisSessionStorage::builder(url)
        .prefix(prefix)
        .mark_migration_done(false)
        .connect()
        .await?;
    let mut records = Vec::new();
    source
        .walk(None, &mut |walked| match walked {
            Walked::Session(stored) => records.push(Incoming::new(
                format!("key {prefix}_{}", stored.session.id),
                Ok(stored.session),
            )),
            Walked::Unreadable { id, reason } => {
                records.push(Incoming::new(format!("key {prefix}_{id}"), Err(reason)));
            }
            _ => {}
        })
        .await?;
    records.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok(records)
}

fn print_report(report: &ImportReport, output: &Output) {
    if output.json() {
        output.document(&json!({
            "imported": report.imported,
            "replaced": report.replaced,
            "skipped": report
                .skipped
                .iter()
                .map(|skipped| json!({ "origin": skipped.origin, "reason": skipped.reason }))
                .collect::<Vec<_>>(),
            "dry_run": report.dry_run,
        }));
        return;
    }
    let verb = if report.dry_run {
        "would import"
    } else {
        "imported"
    };
    println!(
        "{verb} {} sessions ({} new, {} replacing one with the same id); {} skipped",
        report.imported + report.replaced,
        report.imported,
        report.replaced,
        report.skipped.len()
    );
    for skipped in &report.skipped {
        println!("  skipped {}: {}", skipped.origin, skipped.reason);
    }
}
