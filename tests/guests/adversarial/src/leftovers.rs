//! Looking for what an earlier instance left in linear memory: one call writes a secret on its
//! stack and its heap, a later call reads every byte of its own memory looking for it.

use std::hint::black_box;

/// The secret's bytes are the marker's, each XOR this, so the secret itself never appears in
/// the scanning instance's memory (only the marker does, in its argument).
const MASK: u8 = 0x55;

/// Writes the secret for `marker` into a stack buffer and a heap buffer, then scans memory while
/// both are alive: `found N` (N ≥ 2 shows the scan sees what an instance wrote).
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
    let found = scan(marker);
    black_box(&on_stack);
    black_box(&on_heap);
    found
}

/// Reads every byte of this instance's linear memory (address 1 to its size) for the secret of
/// `marker`: `found N`.
pub fn scan(marker: &str) -> String {
    let marker = marker.as_bytes();
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let byte = |address: usize| {
        // SAFETY: every address below the memory's size is mapped, readable linear memory; the
        // read is volatile so it is done as written. Address 0 is skipped.
        unsafe { std::ptr::read_volatile(std::ptr::with_exposed_provenance::<u8>(address)) }
    };
    let found = (1..size.saturating_sub(marker.len()))
        .filter(|&start| {
            marker
                .iter()
                .enumerate()
                .all(|(k, &b)| byte(start + k) == b ^ MASK)
        })
        .count();
    format!("found {found}")
}
