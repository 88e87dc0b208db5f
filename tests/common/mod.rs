//! Helpers shared by the integration tests.

// Each test binary uses only some of them.
#![allow(dead_code)]

pub mod node;
pub mod redis_server;

/// A small deterministic generator (xorshift64*), so that a failing run can be repeated from
/// its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// A seed from the clock, printed so that a failure can be replayed with `TEST_SEED`.
pub fn seed() -> u64 {
    let seed = std::env::var("TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("TEST_SEED={seed}");
    seed
}

/// A raw sled handle on a database of `SledSessionStorage` (closed), to damage or inspect it
/// behind the storage's back. It must name the segment size the crate gives new databases:
/// sled refuses to open one with another. sled's I/O threads can hold the lock for a moment
/// after the last handle is gone (see `open_with_lock_grace` in `src/storage/sled/builder.rs`),
/// longer on a loaded machine: a held lock is tried again for up to 10 s.
pub fn open_raw(path: &std::path::Path) -> sled::Db {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .segment_size(8 * 1024 * 1024)
            .open()
        {
            Ok(db) => return db,
            Err(error)
                if error.to_string().contains("could not acquire lock")
                    && started.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("{error}"),
        }
    }
}

/// An error's `Display` and `Debug` and those of every source, as a chain printer shows them.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt::Write as _;
    let mut text = format!("{error} / {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        write!(text, " / {cause} / {cause:?}").unwrap();
        source = cause.source();
    }
    text
}
