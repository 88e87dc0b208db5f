//! The Lua scripts that change a session and its shop's index as one step.
//!
//! Each script is `lua/common.lua` followed by its own file. redis-rs sends them with `EVALSHA`
//! and loads them again when the server answers `NOSCRIPT` (after a restart, or
//! `SCRIPT FLUSH`).
//!
//! The scripts read and write the index of the shop a session had before (named inside the
//! stored value, so it cannot be declared in `KEYS`). A standalone server allows that; a cluster
//! would not, which is one reason the storage refuses clusters (see `mod.rs`).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal, $doc:literal) => {
        #[doc = $doc]
        pub(super) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(include_str!("lua/common.lua"), include_str!($file)))
        });
    };
}

script!(
    STORE,
    "lua/store.lua",
    "Stores a session and lists it in its shop's index."
);
script!(
    DELETE,
    "lua/delete.lua",
    "Deletes sessions and unlists them."
);
script!(
    FIND,
    "lua/find.lua",
    "Reads a shop's index and its sessions, pruning gone keys."
);
script!(
    EXPIRE,
    "lua/expire.lua",
    "Deletes a session found past its deadline, unless changed since."
);
script!(
    UNLIST,
    "lua/unlist.lua",
    "Unlists a session that belongs to another shop now."
);
script!(
    MARKER,
    "lua/marker.lua",
    "Marks the Node adapter's migration as done."
);
script!(
    RELIST,
    "lua/relist.lua",
    "Lists a session its shop's index lost."
);

script!(
    RELEASE_LOCK,
    "lua/release_lock.lua",
    "Releases a refresh lock if the caller's token still holds it."
);
