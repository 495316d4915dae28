//! `audit`: the component's imports and exports with the policy's grant for each, as a table
//! for a security reviewer.

use host_harness::PluginHost;

pub fn run(host: &PluginHost) -> anyhow::Result<()> {
    let rows = host_harness::audit::audit(host);
    say!("{}", host_harness::audit::render_table(&rows));
    Ok(())
}
