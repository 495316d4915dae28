//! Builds the test guest components in `guests/` (the adversarial one, and one built against the
//! last release's contract) for `wasm32-wasip2` whenever they or the contract change.

include!("../host-harness/guest_build.rs");

fn main() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for watched in [
        "guests/adversarial/src",
        "guests/adversarial/Cargo.toml",
        "guests/contract-0.1/src",
        "guests/contract-0.1/Cargo.toml",
        "../wit",
        "../host-harness/guest_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", here.join(watched).display());
    }
    let manifest = here.join("guests/adversarial/Cargo.toml");
    let wasm = build_guest(&manifest, "adversarial-guest", "adversarial_guest");
    println!("cargo:rustc-env=ADVERSARIAL_GUEST_WASM={}", wasm.display());
    // A plugin built against the last release's contract (0.1.0), which the host still runs.
    let manifest = here.join("guests/contract-0.1/Cargo.toml");
    let wasm = build_guest(&manifest, "contract-0-1-guest", "contract_0_1_guest");
    println!("cargo:rustc-env=CONTRACT_0_1_GUEST_WASM={}", wasm.display());
}
