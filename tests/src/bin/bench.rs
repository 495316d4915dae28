//! `make bench`: normalisation natively and inside the component over the same corpus in one
//! run, where a fresh instance's time goes, instantiation from an `InstancePre`, and loading a
//! cached component versus compiling it.

use std::time::{Duration, Instant};

use host_harness::HostSettings;
use host_harness::bindings::RawMessage;
use host_harness::engine::{load_component, new_engine};
use host_harness::state::MailboxScope;

const MAILBOX: &str = "bob@crm-customer.nl";

/// Normalisation natively and in the component, on the old corpus and a realistic one.
#[derive(clap::Parser)]
struct Args {
    /// Messages of the realistic corpus (`tests/bench/seed.py --seed 1`).
    #[arg(long, default_value_t = 2000)]
    realistic: usize,
    /// Rounds of each normalisation figure; the best is kept.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    use clap::Parser;
    let args = Args::parse();
    let host = tests::plugin_host(&HostSettings::default());
    let old = bench_corpus()?;
    normalisation(
        &host,
        &old,
        "tests/corpus ×40 plus 60 generated larger messages",
        args.rounds,
    )
    .await?;
    fresh_call_costs(&host, &old, args.rounds).await?;
    let realistic = tests::realistic::messages(args.realistic, 1)?;
    normalisation(
        &host,
        &realistic,
        "realistic, tests/bench/seed.py --seed 1",
        args.rounds,
    )
    .await?;

    let mut instantiate = Vec::new();
    for _ in 0..2000 {
        let start = Instant::now();
        std::hint::black_box(host.instantiate(scope()).await?);
        instantiate.push(start.elapsed());
    }
    instantiate.sort();
    println!("\n| instantiation from InstancePre (2000 runs) | µs |");
    println!("|---|---:|");
    println!(
        "| median | {:.1} |",
        micros(instantiate[instantiate.len() / 2])
    );
    println!(
        "| p99 | {:.1} |",
        micros(instantiate[instantiate.len() * 99 / 100])
    );

    let wasm_bytes = std::fs::read(host_harness::BUNDLED_PLUGIN)?;
    let engine = new_engine().map_err(wasm_error)?;
    let cache = tempfile::tempdir()?;
    let compile = best_of(3, || {
        load_component(&engine, &wasm_bytes, None).expect("compile");
    });
    load_component(&engine, &wasm_bytes, Some(cache.path())).map_err(wasm_error)?;
    let cached = best_of(3, || {
        let (_, from) = load_component(&engine, &wasm_bytes, Some(cache.path())).expect("load");
        assert_eq!(from, host_harness::engine::LoadedFrom::Cache);
    });
    println!(
        "\n| loading the component ({} KiB) | ms |",
        wasm_bytes.len() / 1024
    );
    println!("|---|---:|");
    println!("| compiling with Cranelift | {:.1} |", millis(compile));
    println!("| loading the cached .cwasm | {:.1} |", millis(cached));
    println!(
        "| ratio | {:.0}× faster |",
        compile.as_secs_f64() / cached.as_secs_f64()
    );
    Ok(())
}

/// The normalisation table of one corpus: native, one instance, a fresh instance per message.
async fn normalisation(
    host: &host_harness::PluginHost,
    corpus: &[Vec<u8>],
    label: &str,
    rounds: usize,
) -> anyhow::Result<()> {
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "\ncorpus: {} messages, {mib:.2} MiB ({label})\n",
        corpus.len()
    );
    // The host's side of the input is built before timing; copying it into the guest is timed.
    let raw_messages = raw_messages(corpus);
    // The three take turns in every round, so a change in the machine's speed meets them all.
    let (mut native, mut wasm, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        for m in corpus {
            std::hint::black_box(plugin::normalize(
                &plugin::RawMessage {
                    bytes: m,
                    internal_date: None,
                },
                MAILBOX,
            ));
        }
        native.push(start.elapsed());

        let (mut store, plugin) = host.instantiate(scope()).await?;
        let start = Instant::now();
        for raw in &raw_messages {
            std::hint::black_box(
                plugin
                    .normalize(&mut store, raw, MAILBOX)
                    .await
                    .map_err(wasm_error)?,
            );
        }
        wasm.push(start.elapsed());

        let start = Instant::now();
        for m in corpus {
            std::hint::black_box(host.mailbox("bench").normalize(m, None, MAILBOX).await?);
        }
        fresh.push(start.elapsed());
    }
    let best = |times: Vec<Duration>| times.into_iter().min().expect("rounds > 0");
    let (native, wasm, fresh) = (best(native), best(wasm), best(fresh));

    let rate = |d: Duration| (mib / d.as_secs_f64(), corpus.len() as f64 / d.as_secs_f64());
    let (n_mib, n_msg) = rate(native);
    let (w_mib, w_msg) = rate(wasm);
    let (f_mib, f_msg) = rate(fresh);
    println!("| normalisation | MiB/s | messages/s | ratio to native |");
    println!("|---|---:|---:|---:|");
    println!("| native (same code, release) | {n_mib:.1} | {n_msg:.0} | 1.00 |");
    println!(
        "| in the component, one instance | {w_mib:.1} | {w_msg:.0} | {:.2} |",
        w_mib / n_mib
    );
    println!(
        "| in the component, fresh instance per message | {f_mib:.1} | {f_msg:.0} | {:.2} ({:.2} of one instance) |",
        f_mib / n_mib,
        f_mib / w_mib
    );
    Ok(())
}

fn wasm_error(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

fn scope() -> MailboxScope {
    MailboxScope {
        id: "bench".into(),
        provider: host_harness::state::ProviderGrant::Known(None),
    }
}

/// Where a fresh instance per message spends its time, per message of `corpus`: the parts of
/// `Mailbox::normalize` timed one by one, taking turns in every round (best of `rounds`).
async fn fresh_call_costs(
    host: &host_harness::PluginHost,
    corpus: &[Vec<u8>],
    rounds: usize,
) -> anyhow::Result<()> {
    let raw_messages = raw_messages(corpus);
    let mailbox = host.mailbox("bench");
    let mut parts: [Vec<Duration>; 5] = Default::default();
    for _ in 0..rounds {
        let (mut store, plugin) = host.instantiate(scope()).await?;
        let start = Instant::now();
        for raw in &raw_messages {
            let record = plugin.normalize(&mut store, raw, MAILBOX).await;
            std::hint::black_box(record.map_err(wasm_error)?);
        }
        parts[0].push(start.elapsed());

        let start = Instant::now();
        for _ in corpus {
            std::hint::black_box(host.instantiate(scope()).await?);
        }
        parts[1].push(start.elapsed());

        let start = Instant::now();
        for raw in &raw_messages {
            fresh_call(host, raw).await?;
        }
        parts[2].push(start.elapsed());

        let start = Instant::now();
        for _ in corpus {
            std::hint::black_box(mailbox.provider().await?);
        }
        parts[3].push(start.elapsed());

        let start = Instant::now();
        for m in corpus {
            std::hint::black_box(mailbox.normalize(m, None, MAILBOX).await?);
        }
        parts[4].push(start.elapsed());
    }
    let per_message =
        |times: &[Duration]| micros(*times.iter().min().expect("rounds > 0")) / corpus.len() as f64;
    println!(
        "\n| a fresh instance per message, part by part (same corpus, best of {rounds}) | µs per message |"
    );
    println!("|---|---:|");
    for (label, times) in [
        "a call into one instance",
        "instantiation and drop",
        "a fresh instance and its call",
        "the mailbox's provider, read on a blocking thread (by a call's first use of a grant)",
        "`Mailbox::normalize`: a fresh instance and its call, which reads no provider",
    ]
    .iter()
    .zip(&parts)
    {
        println!("| {label} | {:.1} |", per_message(times));
    }
    Ok(())
}

/// The corpus as the host passes messages to the component.
fn raw_messages(corpus: &[Vec<u8>]) -> Vec<RawMessage> {
    corpus
        .iter()
        .map(|m| RawMessage {
            bytes: m.clone(),
            internal_date: None,
        })
        .collect()
}

/// `raw` normalised in an instance of its own, made for it.
async fn fresh_call(host: &host_harness::PluginHost, raw: &RawMessage) -> anyhow::Result<()> {
    let (mut store, plugin) = host.instantiate(scope()).await?;
    let record = plugin.normalize(&mut store, raw, MAILBOX).await;
    std::hint::black_box(record.map_err(wasm_error)?);
    Ok(())
}

fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .expect("rounds > 0")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The test corpus forty times, plus larger generated messages: long HTML newsletters and
/// messages with base64 attachments, as a mailbox holds them.
fn bench_corpus() -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
    let mut small = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        small.push(std::fs::read(entry?.path())?);
    }
    let mut corpus: Vec<Vec<u8>> = (0..40).flat_map(|_| small.clone()).collect();
    for i in 0..30 {
        corpus.push(newsletter(i));
        corpus.push(with_attachment(i));
    }
    Ok(corpus)
}

fn newsletter(i: usize) -> Vec<u8> {
    let items: String = (0..300)
        .map(|n| format!("<tr><td><a href=\"https://example.com/item/{n}\">Item {n}</a></td><td>Beschrijving van product {n} &amp; prijs &euro; {n},95</td></tr>\r\n"))
        .collect();
    format!(
        "Message-ID: <news-{i}@lists.example.com>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0100\r\nFrom: News <news@lists.example.com>\r\nTo: bob@crm-customer.nl\r\nSubject: Nieuwsbrief {i}\r\nList-Id: <news.lists.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><table>{items}</table></body></html>\r\n"
    )
    .into_bytes()
}

fn with_attachment(i: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..300_000u32)
        .map(|n| (n.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let encoded = tests::mail_fixtures::base64_lines(&payload);
    format!(
        "Message-ID: <att-{i}@example.org>\r\nDate: Tue, 5 Mar 2024 11:00:00 +0100\r\nFrom: Anna <anna@example.org>\r\nTo: bob@crm-customer.nl\r\nSubject: Offerte {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZie bijlage.\r\n--b{i}\r\nContent-Type: application/pdf; name=\"offerte-{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"offerte-{i}.pdf\"\r\n\r\n{encoded}--b{i}--\r\n"
    )
    .into_bytes()
}
