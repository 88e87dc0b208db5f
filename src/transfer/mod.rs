//! Moving sessions between stores: JSON-lines backups ([`export`], [`parse_line`]), imports from
//! Shopify's own stores ([`sqlite`] for its SQLite and Prisma adapters, feature `sqlite`; a
//! Redis in the Node adapter's layout through [`AdminStorage::walk`]), and [`import`], which
//! upserts what they read into any [`AdminStorage`].
//!
//! A record that cannot be imported (no id, a shop that is not a shop domain, a date that does
//! not read) is skipped and named with its reason; it never stops the rest, and each session is
//! stored whole or not at all (each store's own promise). Reasons name the field, never its
//! value: backups hold tokens.

mod json_lines;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

use std::time::SystemTime;

pub use self::json_lines::{
    ExportFormat, ExportReport, export, export_to_file, parse_line, to_line,
};
use crate::{Error, Result, Session, admin::AdminStorage, sanitize_shop};

/// One record read from a source, before it is imported.
#[derive(Debug)]
#[non_exhaustive]
pub struct Incoming {
    /// Where it came from, for people: `line 7`, `row 3 (id offline_a.myshopify.com)`, `key ...`.
    pub origin: String,
    /// The session, or why the record does not make one.
    pub session: std::result::Result<Session, String>,
}

impl Incoming {
    /// A record from `origin`.
    #[must_use]
    pub fn new(origin: impl Into<String>, session: std::result::Result<Session, String>) -> Self {
        Incoming {
            origin: origin.into(),
            session,
        }
    }
}

/// A record [`import`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// Where it came from.
    pub origin: String,
    /// Why it was left out.
    pub reason: String,
}

/// What [`import`] did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Sessions stored that the store did not hold.
    pub imported: usize,
    /// Sessions stored in place of one with the same id.
    pub replaced: usize,
    /// Records left out, in the order read.
    pub skipped: Vec<Skipped>,
    /// Whether nothing was written.
    pub dry_run: bool,
}

/// Upserts every session of `records` into `storage`, skipping (and naming) the records that
/// do not make a valid session, whose shop is not a shop domain, or that are past their own
/// dates at `now` (they would not load). On a dry run nothing is written, and the report says
/// what would be (it checks what every store checks first; a limit of one store's own, such
/// as sled's largest record, shows only on the real run). `tick` is called once per record.
///
/// # Errors
/// What the store returns when it fails (not for a bad record: those are skipped); what was
/// imported before stays imported.
///
/// ```
/// use shopify_session_storage::{MemorySessionStorage, SledSessionStorage, transfer::{import, parse_line, Incoming}};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let storage = SledSessionStorage::open(dir.path().join("sessions.db"))?;
/// let lines = [
///     r#"{"id":"offline_a.myshopify.com","shop":"a.myshopify.com","state":"","isOnline":false}"#,
///     r#"{"id":"offline_b","shop":"not a shop","state":"","isOnline":false}"#,
/// ];
/// let records = lines.iter().enumerate().map(|(n, line)| Incoming::new(format!("line {}", n + 1), parse_line(line)));
/// let report = import(&storage, records, false, std::time::SystemTime::now(), &mut || {}).await?;
/// assert_eq!((report.imported, report.skipped.len()), (1, 1));
/// assert_eq!(report.skipped[0].origin, "line 2");
/// # Ok(()) }
/// ```
pub async fn import<S: AdminStorage + ?Sized>(
    storage: &S,
    records: impl IntoIterator<Item = Incoming>,
    dry_run: bool,
    now: SystemTime,
    tick: &mut (dyn FnMut() + Send),
) -> Result<ImportReport> {
    let mut report = ImportReport {
        dry_run,
        ..ImportReport::default()
    };
    // On a dry run nothing is stored, so a second record of an id replaces what the first
    // would have stored only here.
    let mut seen = std::collections::HashSet::new();
    for Incoming { origin, session } in records {
        tick();
        let session = match session.and_then(|session| admissible(session, now)) {
            Ok(session) => session,
            Err(reason) => {
                report.skipped.push(Skipped { origin, reason });
                continue;
            }
        };
        let existed = match storage.load_stored(&session.id).await {
            Ok(found) => found.is_some() || seen.contains(&session.id),
            // Replaced by the import: the record that does not decode is there.
            Err(Error::Corrupt { .. }) => true,
            Err(error) => return Err(error),
        };
        if !dry_run {
            match storage.store_session(&session).await {
                Ok(_) => {}
                Err(error @ (Error::InvalidSession(_) | Error::InvalidShop(_))) => {
                    let reason = error.to_string();
                    report.skipped.push(Skipped { origin, reason });
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
        if dry_run {
            seen.insert(session.id);
        }
        if existed {
            report.replaced += 1;
        } else {
            report.imported += 1;
        }
    }
    Ok(report)
}

/// The session, or why it cannot be imported.
fn admissible(session: Session, now: SystemTime) -> std::result::Result<Session, String> {
    if let Err(error) = session.validate() {
        return Err(error.to_string());
    }
    if sanitize_shop(&session.shop).ok().as_deref() != Some(session.shop.as_str()) {
        return Err("`shop` is not a shop domain (NAME.myshopify.com)".to_owned());
    }
    let last_date = match (session.expires, session.refresh_token_expires) {
        (Some(expires), Some(refresh)) => Some(expires.max(refresh)),
        (expires, refresh) => expires.or(refresh),
    };
    if last_date.is_some_and(|last| last <= now) {
        return Err("past its dates (expired, with no live refresh token)".to_owned());
    }
    Ok(session)
}
