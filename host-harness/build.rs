//! Builds the plugin component from `../plugin` for `wasm32-wasip2` whenever the guest or the
//! contract changes, so the host never runs a stale component; exports its path.

include!("guest_build.rs");

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for watched in [
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "Cargo.lock",
        "vendor",
        "host-harness/guest_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let wasm = build_guest(&root.join("Cargo.toml"), "plugin", "plugin");
    println!("cargo:rustc-env=MAILSYNC_PLUGIN_WASM={}", wasm.display());
}
