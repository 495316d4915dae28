//! `mailsync-host`, the plugin developer's command line: runs the plugin component in the same
//! sandboxed host the CRM embeds. See `mailsync-host --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
