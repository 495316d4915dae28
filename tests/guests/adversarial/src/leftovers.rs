//! Looking for what an earlier instance left in linear memory: one call writes a secret on its
//! stack and its heap, a later call reads every byte of its own memory looking for it.

use std::hint::black_box;

/// The secret's bytes are the marker's, each XOR this, so the secret itself never appears in
/// the scanning instance's memory (only the marker does, in its argument).
const MASK: u8 = 0x55;
/// The scan first grows memory to this many 64 KiB pages, past all `scribble` grew to, so it
/// reads the pages an earlier instance's heap held too.
const SCANNED_PAGES: usize = 64;

/// Writes the secret for `marker` into a stack buffer and a heap buffer, then scans memory while
/// both are alive: `found N in P pages` (N ≥ 2 shows the scan sees what an instance wrote; P is
/// the memory's size before the scan grew it, which later scans must cover).
pub fn scribble(marker: &str) -> String {
    let secret: Vec<u8> = marker.bytes().map(|b| b ^ MASK).collect();
    let mut on_stack = [0u8; 32 * 1024];
    on_stack[..secret.len()].copy_from_slice(&secret);
    let mut on_heap = vec![0u8; 512 * 1024];
    let tail = on_heap.len() - secret.len();
    on_heap[tail..].copy_from_slice(&secret);
    drop(secret);
    black_box(&mut on_stack);
    black_box(&mut on_heap);
    let written_pages = core::arch::wasm32::memory_size(0);
    let (found, _) = grow_and_count(marker);
    black_box(&on_stack);
    black_box(&on_heap);
    format!("found {found} in {written_pages} pages")
}

/// Scans this instance's memory for the secret of `marker`: `found N in P pages`.
pub fn scan(marker: &str) -> String {
    let (found, pages) = grow_and_count(marker);
    format!("found {found} in {pages} pages")
}

/// Grows this instance's linear memory to `SCANNED_PAGES`, then reads every byte of it (from
/// address 1) for the secret of `marker`: how often it is there, and the pages read.
fn grow_and_count(marker: &str) -> (usize, usize) {
    let marker = marker.as_bytes();
    let pages = core::arch::wasm32::memory_size(0);
    if pages < SCANNED_PAGES {
        core::arch::wasm32::memory_grow(0, SCANNED_PAGES - pages);
    }
    let pages = core::arch::wasm32::memory_size(0);
    let size = pages * 65536;
    let byte = |address: usize| {
        // SAFETY: every address below the memory's size is mapped, readable linear memory; the
        // read is volatile so it is done as written. Address 0 is skipped.
        unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u8>(address)) }
    };
    let found = (1..=size.saturating_sub(marker.len()))
        .filter(|&start| {
            marker
                .iter()
                .enumerate()
                .all(|(k, &b)| byte(start + k) == b ^ MASK)
        })
        .count();
    (found, pages)
}
