//! The store's promises, one suite run on both backends: every case runs once on a SQLite file
//! and once on a fresh database of a throwaway PostgreSQL cluster, through the same `Database`
//! handle the host uses. A second handle on the same place stands for a second node.

use std::sync::Arc;

use host_harness::Database;
use host_harness::at_rest::KeyRing;
use host_harness::db::DatabaseUrl;
use tests::postgres::PostgresCluster;

mod events;
mod inbox;
mod kv;
mod leases;
mod outbox;
mod turns;

/// Where a case's database lives.
enum Place {
    Sqlite(tempfile::TempDir),
    /// The cluster is held so it outlives the database's handles.
    Postgres {
        _cluster: Arc<PostgresCluster>,
        url: String,
    },
}

/// A case's database: one open handle, and the place to open more.
pub struct Store {
    pub db: Database,
    pub keys: KeyRing,
    place: Place,
}

impl Store {
    fn sqlite() -> Self {
        Self::at(Place::Sqlite(tempfile::tempdir().expect("temp dir")))
    }

    fn postgres() -> Self {
        let cluster = PostgresCluster::shared();
        let url = cluster.fresh_database();
        Self::at(Place::Postgres {
            _cluster: cluster,
            url,
        })
    }

    fn at(place: Place) -> Self {
        let keys = KeyRing::ephemeral();
        let db = open(&place, &keys);
        Store { db, keys, place }
    }

    /// Writes a value in clear straight into the database, bypassing the host (as an older host
    /// did, or as someone with access to the database could).
    pub fn write_in_clear(&self, mailbox: &str, key: &str, value: &[u8]) {
        let sql = "INSERT INTO plugin_kv (mailbox, key, value) VALUES ($1, $2, $3)";
        match &self.place {
            Place::Sqlite(_) => {
                let conn = self.sqlite_connection();
                conn.execute(
                    &sql.replace('$', "?"),
                    rusqlite::params![mailbox, key, value],
                )
                .unwrap();
            }
            Place::Postgres { url, .. } => on_postgres(url, async |client| {
                client
                    .execute(sql, &[&mailbox, &key, &value])
                    .await
                    .unwrap();
            }),
        }
    }

    /// Runs statements with no parameters straight on the database, bypassing the host.
    pub fn run_sql(&self, sql: &str) {
        match &self.place {
            Place::Sqlite(_) => self.sqlite_connection().execute_batch(sql).unwrap(),
            Place::Postgres { url, .. } => on_postgres(url, async |client| {
                client.batch_execute(sql).await.unwrap();
            }),
        }
    }

    /// One number from the database, straight (a count, a sum).
    pub fn scalar(&self, sql: &str) -> i64 {
        match &self.place {
            Place::Sqlite(_) => self
                .sqlite_connection()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Place::Postgres { url, .. } => {
                let mut value = 0;
                on_postgres(url, async |client| {
                    value = client.query_one(sql, &[]).await.unwrap().get(0);
                });
                value
            }
        }
    }

    /// How the store's logs name this place: `path=…` of a SQLite file, `database=…` of a
    /// PostgreSQL database.
    pub fn place_name(&self) -> String {
        match &self.place {
            Place::Sqlite(dir) => format!("path={}", dir.path().join("store.db").display()),
            Place::Postgres { url, .. } => {
                format!("database={}", url.rsplit('/').next().unwrap_or_default())
            }
        }
    }

    /// Opens the database again, or says why it cannot.
    pub fn try_open_again(&self) -> Result<Database, String> {
        try_open(&self.place, &self.keys)
    }

    fn sqlite_connection(&self) -> rusqlite::Connection {
        let Place::Sqlite(dir) = &self.place else {
            unreachable!("a SQLite place")
        };
        let conn = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn
    }

    /// Another handle on the same PostgreSQL database, logged in as `role` (a node that can be
    /// cut off from the database alone).
    pub fn open_as(&self, role: &str) -> Database {
        let Place::Postgres { url, .. } = &self.place else {
            unreachable!("a PostgreSQL place")
        };
        let url = url.replacen(
            &format!("//{}@", tests::postgres::ROLE),
            &format!("//{role}@"),
            1,
        );
        let url = DatabaseUrl::parse(&url).expect("a PostgreSQL URL");
        Database::connect(&url, self.keys.clone()).unwrap_or_else(|e| panic!("open as {role}: {e}"))
    }

    /// Another handle on the same database (another node, or the same one after a restart),
    /// its values opened with `keys`.
    pub fn open_again(&self, keys: &KeyRing) -> Database {
        open(&self.place, keys)
    }
}

/// Runs `work` with a client of its own on the PostgreSQL database at `url`.
fn on_postgres(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client)) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        work(&client).await;
    });
}

fn open(place: &Place, keys: &KeyRing) -> Database {
    try_open(place, keys).unwrap_or_else(|e| panic!("{e}"))
}

fn try_open(place: &Place, keys: &KeyRing) -> Result<Database, String> {
    let url = match place {
        Place::Sqlite(dir) => DatabaseUrl::Sqlite(dir.path().join("store.db")),
        Place::Postgres { url, .. } => DatabaseUrl::parse(url).expect("a PostgreSQL URL"),
    };
    Database::connect(&url, keys.clone()).map_err(|e| format!("open {url}: {e}"))
}

/// One test per case and backend: `sqlite::kv::storage_is_scoped_per_mailbox`, and so on.
macro_rules! suite {
    ($($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(mod $module {
                $(#[test]
                fn $case() {
                    crate::$module::$case(crate::Store::sqlite())
                })*
            })*
        }
        mod postgres {
            $(mod $module {
                $(#[test]
                fn $case() {
                    crate::$module::$case(crate::Store::postgres())
                })*
            })*
        }
    };
}

suite! {
    kv: [
        storage_is_scoped_per_mailbox,
        list_by_prefix_is_sorted_and_treats_wildcards_literally,
        values_open_only_with_the_key_they_were_sealed_with,
        a_value_in_clear_is_refused_until_the_next_open_seals_it,
        rotating_the_key_keeps_every_value,
        a_handle_has_the_database_alone_only_while_no_other_has_it_open,
        a_storage_fill_past_the_quota_is_refused_whole_and_deleting_still_works,
        a_key_flood_stops_at_the_quota_of_keys,
        two_nodes_writing_one_mailbox_at_once_keep_its_usage_exact,
        the_provider_record_is_kept_per_mailbox_and_forgotten,
        the_administrators_choices_are_kept,
        the_schema_is_migrated_once_and_data_survives_a_reopen,
        a_schema_newer_than_this_host_knows_is_refused,
        panel_tickets_are_taken_once_and_sessions_seen_by_every_node,
        many_calls_from_one_tokio_task_finish,
        sends_are_counted_per_mailbox_and_forgotten_after_a_day,
    ],
    inbox: [
        redelivery_stores_nothing_twice,
        a_message_in_two_folders_shows_in_the_first_by_priority,
        a_message_moved_between_folders_is_never_removed,
        flags_change_once_and_unknown_locations_are_counted,
        vanished_uids_of_a_folder_go_together_and_in_order,
        uids_missing_from_a_present_list_have_vanished,
        a_folder_reset_forgets_the_old_uids_only,
        a_location_that_changes_record_leaves_the_old_one,
        one_mailboxs_changes_never_touch_another_mailboxs_locations,
        pages_go_from_the_newest_delivery_back,
        a_page_lists_the_first_senders_never_the_record,
        sync_reports_come_back_newest_first,
        a_mixed_batch_ends_as_if_delivered_in_order,
        a_move_the_crm_made_replaces_the_place_and_its_sync_finds_nothing_new,
    ],
    events: [
        events_come_back_in_order_after_the_last_id_seen,
        each_message_change_is_an_event_written_with_it,
        a_reader_following_several_writing_nodes_misses_no_event,
        webhook_cursors_are_kept,
        a_dead_letter_is_kept_with_the_cursor_past_it_and_only_the_newest_stay,
        one_mailboxs_events_are_read_without_the_others,
        no_event_a_webhook_has_not_taken_is_pruned_but_past_the_bound_the_gap_is_told,
        a_cursor_no_node_has_seen_for_a_week_holds_nothing_back_and_goes,
    ],
    outbox: [
        the_same_key_is_the_same_entry_on_every_node,
        drafts_are_sealed_and_survive_a_key_rotation,
        entries_go_in_order_and_each_change_comes_with_its_event,
        a_finished_entry_keeps_no_draft_and_goes_after_its_time,
        an_action_is_an_entry_of_its_own_kind_in_the_same_order,
    ],
    turns: [a_mailboxs_turn_has_one_holder_until_it_is_let_go],
    leases: [
        a_lone_node_holds_every_mailbox_and_lets_go_on_shutdown,
        nodes_split_the_mailboxes_and_a_joining_node_takes_its_share,
        nodes_claiming_at_once_never_hold_one_mailbox_together,
        a_silent_nodes_mailboxes_are_taken_over_once_its_leases_expire,
        a_nudge_reaches_the_mailboxs_holder_once,
    ],
}
