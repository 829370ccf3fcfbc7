//! The SSRF guard: which addresses outgoing webhooks may reach, and a DNS resolver for the
//! delivery client that refuses the others (so a name cannot be re-pointed after the check).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Loopback, private, link-local, unique-local, shared (CGNAT), unspecified, broadcast, multicast.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xfe00) == 0xfc00 // unique-local fc00::/7
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

/// Checks a target URL's form: https (http only when private targets are allowed), a host.
pub fn parse_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|_| "must be an absolute URL".to_string())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("must be an https:// URL".into()),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    if url.username() != "" || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    Ok(url)
}

/// Resolves the URL's host and refuses forbidden addresses (unless allowed).
pub async fn check_url(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| format!("host {host} does not resolve"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("host {host} does not resolve"));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| is_forbidden(a.ip())) {
        return Err(format!(
            "resolves to {} (loopback, private, link-local or reserved addresses are not allowed)",
            a.ip()
        ));
    }
    Ok(addrs)
}

/// The delivery client's resolver: resolves with the system resolver and refuses forbidden
/// addresses, so the connection goes only to addresses that were checked.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow && let Some(a) = addrs.iter().find(|a| is_forbidden(a.ip())) {
                return Err(format!("{host} resolves to a forbidden address {}", a.ip()).into());
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["8.8.8.8", "172.32.0.1", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_forbidden(ok.parse().unwrap()), "{ok}");
        }
        assert!(parse_url("http://example.com", false).is_err());
        assert!(parse_url("http://example.com", true).is_ok());
        assert!(parse_url("ftp://example.com", true).is_err());
        assert!(parse_url("https://u:p@example.com", false).is_err());
    }
}
