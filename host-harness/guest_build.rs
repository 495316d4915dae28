// Shared by the build scripts of `host-harness` and `tests` (through `include!`): builds a guest
// crate for wasm32-wasip2 in release, in a target directory of its own, and returns its .wasm.

/// Builds `package` from `manifest` and returns the path of `<artifact>.wasm`.
fn build_guest(manifest: &std::path::Path, package: &str, artifact: &str) -> std::path::PathBuf {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out; sharing <target> itself would
    // deadlock on the outer build's lock, so the guest gets <target>/guest, kept across builds.
    let target_dir = out_dir.ancestors().nth(4).unwrap_or(&out_dir).join("guest");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", package, "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        // Guests are small: whole-program optimisation is worth its build time.
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        // The host's flags are not the guest's; the guest gets wasm SIMD (wasmtime runs it).
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo to build a guest component");
    if !status.success() {
        panic!(
            "building the guest component `{package}` for wasm32-wasip2 failed. If the target is \
             missing, install it with `rustup target add wasm32-wasip2` (`make test` and `make demo` do this)."
        );
    }
    target_dir.join(format!("wasm32-wasip2/release/{artifact}.wasm"))
}
