//! JSON lines: one session per line, in Shopify's `toObject()` shape or as a property array
//! (`toPropertyArray(true)`), the two shapes Shopify's libraries write.

use std::{io::Write, path::Path, time::SystemTime};

use serde_json::Value;

use crate::{
    Error, Result, Session,
    admin::{AdminStorage, Walked},
};

/// The shape of each exported line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// `JSON.stringify(session.toObject())`: every field, the user's included. Lossless.
    #[default]
    Object,
    /// `session.toPropertyArray(true)`, as Shopify's SQL and Redis adapters keep sessions.
    /// Like Node's, it leaves out what a property array cannot hold (unknown keys, the user's
    /// `expires_in` and scope).
    PropertyArray,
}

/// One session as a line (without its newline).
///
/// # Errors
/// [`Error::Json`] when the session cannot be written as JSON (a date out of range).
pub fn to_line(session: &Session, format: ExportFormat) -> Result<String> {
    match format {
        ExportFormat::Object => serde_json::to_string(session),
        ExportFormat::PropertyArray => serde_json::to_string(&session.to_property_array_json(true)),
    }
    .map_err(Error::Json)
}

/// Reads one line in either shape (an object, or a property array: told apart by the first
/// character). The reason for a line that is neither names where it fails, never a value.
///
/// # Errors
/// Why the line does not make a session.
pub fn parse_line(line: &str) -> std::result::Result<Session, String> {
    let text = line.trim();
    let value: Value = serde_json::from_str(text).map_err(|error| json_reason(&error))?;
    match &value {
        Value::Object(fields) => {
            check_fields(fields)?;
            serde_json::from_value(value).map_err(|error| json_reason(&error))
        }
        Value::Array(_) => {
            Session::from_property_array_json(&value, true).map_err(|error| error.to_string())
        }
        _ => Err("neither a session object nor a property array".to_owned()),
    }
}

/// Names what is wrong with the fields people get wrong (the deserializer would only say "a
/// field of the wrong type").
fn check_fields(fields: &serde_json::Map<String, Value>) -> std::result::Result<(), String> {
    for required in ["id", "shop"] {
        match fields.get(required) {
            Some(Value::String(text)) if !text.is_empty() => {}
            Some(Value::String(_) | Value::Null) | None => {
                return Err(format!("missing {required}"));
            }
            Some(_) => return Err(format!("`{required}` is not a string")),
        }
    }
    for date in ["expires", "refreshTokenExpires"] {
        match fields.get(date) {
            None | Some(Value::Null) => {}
            Some(value) => {
                crate::session::dates::from_json_value(value)
                    .map_err(|_| format!("unreadable date in `{date}`"))?;
            }
        }
    }
    Ok(())
}

/// `serde_json`'s own messages can quote the value they met; this says where and what kind.
fn json_reason(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Eof => "JSON cut short",
        serde_json::error::Category::Data => "a field of the wrong type or shape",
        serde_json::error::Category::Io => "unreadable",
    };
    if error.line() == 0 {
        kind.to_owned()
    } else {
        format!("{kind} at column {}", error.column())
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// Sessions written.
    pub exported: usize,
    /// Sessions past their deadline, not written.
    pub expired_skipped: usize,
    /// Records that do not decode, not written: ids and why.
    pub unreadable: Vec<(String, String)>,
}

/// Writes every session `storage` serves at `now` to `out`, one line each, ordered by shop and
/// id (so two exports of the same sessions are the same file). `tick` is called once per
/// record read.
///
/// # Errors
/// What the store's walk returns; [`Error::Io`] when `out` fails.
pub async fn export<S: AdminStorage + ?Sized>(
    storage: &S,
    format: ExportFormat,
    now: SystemTime,
    out: &mut (dyn Write + Send),
    tick: &mut (dyn FnMut() + Send),
) -> Result<ExportReport> {
    let mut report = ExportReport::default();
    let mut sessions = Vec::new();
    storage
        .walk(None, &mut |walked| {
            tick();
            match walked {
                Walked::Session(stored) if stored.is_expired_at(now) => {
                    report.expired_skipped += 1;
                }
                Walked::Session(stored) => sessions.push(stored.session),
                Walked::Unreadable { id, reason } => report.unreadable.push((id, reason)),
            }
        })
        .await?;
    sessions.sort_by(|a, b| (&a.shop, &a.id).cmp(&(&b.shop, &b.id)));
    let write_error = |source| Error::Io {
        context: "cannot write the export".to_owned(),
        source,
    };
    for session in &sessions {
        match to_line(session, format) {
            Ok(line) => {
                writeln!(out, "{line}").map_err(write_error)?;
                report.exported += 1;
            }
            // One session that cannot be written (a date out of range) stops nothing.
            Err(error) => report
                .unreadable
                .push((session.id.clone(), crate::error::with_sources(&error))),
        }
    }
    out.flush().map_err(write_error)?;
    Ok(report)
}

/// [`export`] into the file at `path`, written whole or not at all: into a new temporary file
/// beside it, created owner-only (mode 0600: the file holds tokens), synced, then renamed over
/// `path`.
///
/// # Errors
/// As [`export`]; [`Error::Io`] naming the file when it cannot be written. The temporary file
/// is removed on failure.
pub async fn export_to_file<S: AdminStorage + ?Sized>(
    storage: &S,
    format: ExportFormat,
    now: SystemTime,
    path: &Path,
    tick: &mut (dyn FnMut() + Send),
) -> Result<ExportReport> {
    let io_error = |what: &str| {
        let context = format!("cannot {what} {}", path.display());
        move |source| Error::Io { context, source }
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".export-").suffix(".partial");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    // A new file of its own (never a symlink or an old file's inode), removed if dropped.
    let temporary = builder
        .tempfile_in(parent)
        .map_err(io_error("create a file beside"))?;
    let mut out = std::io::BufWriter::new(temporary);
    let report = export(storage, format, now, &mut out, tick).await?;
    let temporary = out
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)
        .map_err(io_error("write"))?;
    temporary.as_file().sync_all().map_err(io_error("sync"))?;
    temporary
        .persist(path)
        .map_err(|error| error.error)
        .map_err(io_error("write the export to"))?;
    // The new name survives a crash once the directory is synced (Unix; elsewhere a directory
    // does not open as a file).
    #[cfg(unix)]
    std::fs::File::open(parent)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error("sync the directory of"))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_shape_reads_and_reasons_hold_no_values() {
        let object = r#"{"id":"offline_a.myshopify.com","shop":"a.myshopify.com","state":"","isOnline":false,"accessToken":"shpat_x"}"#;
        let array = r#"[["id","offline_a.myshopify.com"],["shop","a.myshopify.com"],["state",""],["isOnline",false],["accessToken","shpat_x"]]"#;
        assert_eq!(parse_line(object).unwrap(), parse_line(array).unwrap());
        let wrong = r#"{"id":"x","shop":"a.myshopify.com","state":"","isOnline":"shpat_secret"}"#;
        let reason = parse_line(wrong).unwrap_err();
        assert!(!reason.contains("shpat_secret"), "{reason}");
        assert!(parse_line("{\"id\":").unwrap_err().contains("cut short"));
        assert_eq!(
            parse_line("42").unwrap_err(),
            "neither a session object nor a property array"
        );
    }
}
