//! The throwaway PostgreSQL the many-node tests run on: a cluster of its own per test, reached
//! over loopback with `tokio-postgres`, where `SELECT … FOR UPDATE SKIP LOCKED` hands each of
//! two claimants a different row (what the mailbox leases are built on), and gone when dropped.

use tests::postgres::PostgresCluster;
use tokio_postgres::NoTls;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn two_claimants_skip_each_others_locked_rows_and_the_cluster_stops_when_dropped() {
    let cluster = PostgresCluster::start();
    let mut first = connect(&cluster.url).await;
    let mut second = connect(&cluster.url).await;
    first
        .batch_execute(
            "CREATE TABLE claims (mailbox TEXT PRIMARY KEY, owner TEXT);
             INSERT INTO claims (mailbox) VALUES ('m1'), ('m2');",
        )
        .await
        .expect("the schema");
    let claim = "SELECT mailbox FROM claims ORDER BY mailbox LIMIT 1 FOR UPDATE SKIP LOCKED";
    let a = first.transaction().await.unwrap();
    let a_row: String = a.query_one(claim, &[]).await.unwrap().get(0);
    let b = second.transaction().await.unwrap();
    let b_row: String = b.query_one(claim, &[]).await.unwrap().get(0);
    assert_eq!((a_row.as_str(), b_row.as_str()), ("m1", "m2"));
    // With both rows held, a third claim finds nothing rather than waiting.
    let mut third = connect(&cluster.url).await;
    let c = third.transaction().await.unwrap();
    assert!(c.query_opt(claim, &[]).await.unwrap().is_none());
    drop((a, b, c));

    let url = cluster.url.clone();
    drop(cluster);
    let gone = tokio_postgres::connect(&url, NoTls).await;
    assert!(gone.is_err(), "the cluster is stopped with its test");
}
