//! The component boundary: wit-bindgen's generated bindings, the host's imports behind the domain's
//! port traits, and the exports translated to and from domain types. No logic lives here.

mod act;
mod folders;
mod host;
mod mailbox;
mod normalize;
mod normalizer;
mod record_convert;
mod send;
mod sync;

pub(crate) mod bindings {
    wit_bindgen::generate!({
        world: "mail-sync-plugin",
        path: "../wit",
        pub_export_macro: true,
    });
}

pub(crate) struct Component;

bindings::export!(Component with_types_in bindings);
