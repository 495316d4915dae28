//! Name resolution for the capabilities: the policy checks every address a granted name
//! resolves to, and only the addresses it keeps are ever connected to (no second lookup).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::policy::{Destination, Policy, Refusal};

pub enum ResolveError {
    Refused(Refusal),
    Failed(String),
    TimedOut,
}

/// The socket addresses of `dest` that the policy allows.
pub async fn allowed_addresses(
    policy: &Policy,
    dest: &Destination,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let ips: Vec<IpAddr> = match dest.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((dest.host.as_str(), dest.port));
            match tokio::time::timeout(timeout, lookup).await {
                Err(_) => return Err(ResolveError::TimedOut),
                Ok(Err(e)) => return Err(ResolveError::Failed(e.to_string())),
                Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            }
        }
    };
    let allowed = policy
        .check_resolved(dest, &ips)
        .map_err(ResolveError::Refused)?;
    Ok(allowed
        .into_iter()
        .map(|ip| SocketAddr::new(ip, dest.port))
        .collect())
}
