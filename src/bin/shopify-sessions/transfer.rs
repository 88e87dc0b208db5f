//! Backups and migrations: `export` and `import`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
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
    /// With --from-sqlite: the table to read, when it is not shopify_sessions or Session.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// A Redis in the layout of Shopify's Node Redis adapter.
    #[cfg(feature = "redis")]
    #[arg(long, value_name = "URL", group = "source")]
    from_redis: Option<String>,
    /// With --from-redis: its key prefix (the Node app's `sessionKeyPrefix`; default
    /// shopify_sessions).
    #[cfg(feature = "redis")]
    #[arg(long, value_name = "PREFIX")]
    from_prefix: Option<String>,
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
            "record {id:?} could not be read and was not exported: {reason}"
        ));
    }
    if !report.unreadable.is_empty() {
        output.warn(&format!(
            "the export is incomplete: {} records could not be read (an encrypted database needs --key-env)",
            report.unreadable.len()
        ));
    }
    match &args.file {
        Some(file) => {
            let mode = if cfg!(unix) {
                " (created with mode 0600)"
            } else {
                ""
            };
            output.note(&format!(
                "{} holds access tokens{mode}: keep it as you keep secrets",
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
    // A backup that left records out must not look like one that did not.
    Ok(if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `import`: reads the source (a SQLite table or a Redis whole; JSON lines as it goes), then
/// opens the target (created, unless this is a dry run) and upserts.
pub async fn import_sessions(args: ImportArgs, target: &Target, output: &Output) -> Outcome {
    // (clap's `requires` does not hold for an option whose target is in a group.)
    if args.table.is_some() && args.from_sqlite.is_none() {
        crate::target::usage("--table names a table of --from-sqlite".to_owned());
    }
    #[cfg(feature = "redis")]
    if args.from_prefix.is_some() && args.from_redis.is_none() {
        crate::target::usage("--from-prefix names the prefix of --from-redis".to_owned());
    }
    let source = read_source(&args, output).await?;
    let store = match target.open(!args.dry_run).await {
        Ok(store) => store,
        // Nothing to compare with: every session would be new.
        Err(_) if args.dry_run && target.names_a_missing_path() => {
            output.note("no database there yet: a dry run counts every session as new");
            Store::Memory(shopify_session_storage::MemorySessionStorage::new())
        }
        Err(error) => return Err(error.into()),
    };
    let progress = output.progress("importing");
    let now = SystemTime::now();
    let mut tick = || progress.inc(1);
    let (report, failure) = match source {
        Source::Records(records) => (
            import(store.admin(), records, args.dry_run, now, &mut tick).await,
            None,
        ),
        Source::Lines(file, reader) => {
            import_lines(&file, reader, &store, args.dry_run, now, &mut tick).await
        }
    };
    progress.finish_and_clear();
    let closed = store.close().await;
    let report = report?;
    print_report(&report, output);
    if let Some(failure) = failure {
        return Err(failure);
    }
    closed?;
    Ok(ExitCode::SUCCESS)
}

/// Where the records come from.
enum Source {
    /// Read whole already.
    Records(Vec<Incoming>),
    /// JSON lines, read as they are imported.
    Lines(PathBuf, Box<dyn BufRead + Send>),
}

async fn read_source(
    args: &ImportArgs,
    output: &Output,
) -> Result<Source, Box<dyn std::error::Error>> {
    if let Some(path) = &args.from_sqlite {
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
        return Ok(Source::Records(read.records));
    }
    #[cfg(feature = "redis")]
    if let Some(url) = &args.from_redis {
        let prefix = args
            .from_prefix
            .as_deref()
            .unwrap_or(shopify_session_storage::DEFAULT_REDIS_PREFIX);
        return Ok(Source::Records(read_redis(url, prefix).await?));
    }
    let Some(file) = &args.file else {
        unreachable!("clap requires a source")
    };
    let reader: Box<dyn BufRead + Send> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|error| format!("cannot open {}: {error}", file.display()))?;
        Box::new(BufReader::new(opened))
    };
    Ok(Source::Lines(file.clone(), reader))
}

/// Imports JSON lines as they are read. A line that is not UTF-8 is skipped like any bad
/// record; a read that fails ends the import, and is returned beside the report of what was
/// imported before it.
async fn import_lines(
    file: &Path,
    mut reader: Box<dyn BufRead + Send>,
    store: &Store,
    dry_run: bool,
    now: SystemTime,
    tick: &mut (dyn FnMut() + Send),
) -> (
    Result<ImportReport, shopify_session_storage::Error>,
    Option<Box<dyn std::error::Error>>,
) {
    let failure = std::sync::Mutex::new(None);
    let mut number = 0;
    let records = std::iter::from_fn(|| {
        loop {
            let mut bytes = Vec::new();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => {
                    *failure
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
                    return None;
                }
            }
            number += 1;
            let origin = format!("line {number}");
            match String::from_utf8(bytes) {
                Ok(line) if line.trim().is_empty() => {}
                Ok(line) => return Some(Incoming::new(origin, parse_line(&line))),
                Err(_) => return Some(Incoming::new(origin, Err("not UTF-8 text".to_owned()))),
            }
        }
    });
    let report = import(store.admin(), records, dry_run, now, tick).await;
    let failed = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .map(|error| {
            format!(
                "cannot read {} past line {number} (the lines before were read): {error}",
                file.display()
            )
            .into()
        });
    (report, failed)
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
        // An origin can quote an id or key as stored: its control characters are escaped.
        let origin: String = skipped
            .origin
            .chars()
            .flat_map(char::escape_debug)
            .collect();
        println!("  skipped {origin}: {}", skipped.reason);
    }
}
