//! Storage: this crate's migrations on the workspace's PostgreSQL-or-SQLite layer
//! (`support::db`: one diesel connection enum, the pool, SQLite's pragmas, `write_transaction`).

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use support::db::Migrations;

pub use support::db::{AnyConnection, Backend, Db, DbError, Target};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// This crate's migrations, for [`Db::open`].
pub const MIGRATIONS: Migrations = Migrations {
    postgres: POSTGRES_MIGRATIONS,
    sqlite: SQLITE_MIGRATIONS,
};

/// Opens a pool of `pool_size` connections on `target`, migrated.
pub async fn open(target: &Target, pool_size: usize) -> anyhow::Result<Db> {
    Db::open(target, pool_size, MIGRATIONS).await
}

/// The SQLite file `cargo run -p mini-blog` uses when PostgreSQL is not there.
pub fn sqlite_file(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("mini-blog-{name}.sqlite3"))
        .to_string_lossy()
        .into_owned()
}
