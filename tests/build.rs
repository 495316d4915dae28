//! Builds the adversarial guest component in `guests/adversarial` for `wasm32-wasip2` whenever
//! it or the contract changes; exports its path to the tests.

include!("../host-harness/guest_build.rs");

fn main() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for watched in [
        "guests/adversarial/src",
        "guests/adversarial/Cargo.toml",
        "../wit",
        "../host-harness/guest_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", here.join(watched).display());
    }
    let manifest = here.join("guests/adversarial/Cargo.toml");
    let wasm = build_guest(&manifest, "adversarial-guest", "adversarial_guest");
    println!("cargo:rustc-env=ADVERSARIAL_GUEST_WASM={}", wasm.display());
}
