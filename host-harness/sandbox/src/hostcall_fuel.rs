//! Recognising a call stopped for copying more than its hostcall fuel out of the guest.
//! wasmtime's error for it is a private type, so the host learns that error's shape once, from a
//! probe component that runs out on purpose, and compares errors with it: no wasmtime text here.

use std::sync::LazyLock;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

/// A component that passes 64 bytes to its one import.
const PROBE: &str = r#"
(component
  (import "take" (func $take (param "bytes" string)))
  (core module $memory (memory (export "memory") 1))
  (core instance $memory (instantiate $memory))
  (core func $take_lowered (canon lower (func $take) (memory (core memory $memory "memory"))))
  (core module $caller
    (import "host" "take" (func $take (param i32 i32)))
    (func (export "run") (call $take (i32.const 0) (i32.const 64))))
  (core instance $caller
    (instantiate $caller (with "host" (instance (export "take" (func $take_lowered))))))
  (func (export "run") (canon lift (core func $caller "run"))))
"#;

/// The shape (the type's `Debug`) of wasmtime's error for spent hostcall fuel, learned the first
/// time a call fails (off start-up and off every call that succeeds); `None` if the probe did
/// not run out as expected.
static SHAPE: LazyLock<Option<String>> = LazyLock::new(|| match learn() {
    Ok(shape) => Some(shape),
    Err(e) => {
        tracing::error!(
            error = %format!("{e:#}"),
            "the hostcall fuel probe did not run out: such calls will be reported as traps"
        );
        None
    }
});

/// Runs the probe with `fuel` for its one import call.
fn run_probe(fuel: usize) -> wasmtime::Result<()> {
    let engine = Engine::default();
    let component = Component::new(&engine, PROBE)?;
    let mut linker = Linker::<()>::new(&engine);
    linker
        .root()
        .func_wrap("take", |_, (_bytes,): (String,)| Ok(()))?;
    let mut store = Store::new(&engine, ());
    store.set_hostcall_fuel(fuel);
    let instance = linker.instantiate(&mut store, &component)?;
    let run = instance.get_typed_func::<(), ()>(&mut store, "run")?;
    run.call(&mut store, ())
}

/// Runs the probe with no hostcall fuel: the error it stops with is the one to recognise.
fn learn() -> wasmtime::Result<String> {
    match run_probe(0) {
        Ok(()) => wasmtime::bail!("the probe's import took its bytes with no hostcall fuel"),
        Err(e) => Ok(format!("{:?}", e.root_cause())),
    }
}

/// Whether `err` is a call stopped for running out of hostcall fuel.
pub fn exhausted(err: &wasmtime::Error) -> bool {
    SHAPE
        .as_deref()
        .is_some_and(|shape| err.chain().any(|e| format!("{e:?}") == shape))
}

#[cfg(test)]
mod tests {
    use super::run_probe as probe_with;

    #[test]
    fn a_call_past_its_hostcall_fuel_is_recognised_and_nothing_else_is() {
        let err = probe_with(63).unwrap_err();
        assert!(super::exhausted(&err), "{err:#}");
        probe_with(64).expect("with enough fuel the call goes through");
        // Its text alone is not it, nor is another trap.
        assert!(!super::exhausted(&wasmtime::Error::msg(format!("{err:#}"))));
        assert!(!super::exhausted(&wasmtime::Trap::Interrupt.into()));
    }
}
