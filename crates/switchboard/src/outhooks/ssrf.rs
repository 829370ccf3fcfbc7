//! The SSRF guard: which addresses outgoing webhooks may reach, and a DNS resolver for the
//! delivery client that refuses the others (so a name cannot be re-pointed after the check).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Refused: every address that is, embeds or translates to a loopback, private, link-local,
/// shared (CGNAT), multicast, unspecified, broadcast, reserved or documentation address.
///
/// IPv6 forms that carry an IPv4 address are judged by that address too: IPv4-mapped
/// (`::ffff:0:0/96`), IPv4-compatible (`::/96`, deprecated: refused whatever it embeds),
/// IPv4-translated (`::ffff:0:0:0/96`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4
/// (`2002::/16`, the IPv4 address in bits 16..48) and Teredo (`2001::/32`, the client's address is
/// the last 32 bits inverted). Teredo and NAT64 are refused outright: they are relays that reach
/// addresses nobody checked, and no webhook receiver needs them.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::/96 — unspecified, loopback and the deprecated IPv4-compatible form (::a.b.c.d).
    if s[..6] == [0; 6] {
        return true;
    }
    // ::ffff:0:0/96 — IPv4-mapped.
    if s[..6] == [0, 0, 0, 0, 0, 0xffff] {
        return forbidden_v4(low32);
    }
    // ::ffff:0:0:0/96 — IPv4-translated (SIIT).
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return true;
    }
    // 64:ff9b::/96 (well-known NAT64) and 64:ff9b:1::/48 (local-use NAT64).
    if s[0] == 0x64 && s[1] == 0xff9b {
        return true;
    }
    // 100::/64 — discard-only.
    if s[..4] == [0x100, 0, 0, 0] {
        return true;
    }
    // 2001::/23 — IETF protocol assignments, Teredo (2001::/32) among them; 2001:db8::/32 and
    // 3fff::/20 — documentation.
    if s[0] == 0x2001 && s[1] < 0x200 {
        return true;
    }
    if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        return true;
    }
    // 2002::/16 — 6to4: the IPv4 address is bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return forbidden_v4(v4);
    }
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast() // ff00::/8
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] & 0xfe00) == 0xfc00 // unique-local fc00::/7
        || (s[0] & 0xe000) != 0x2000 // outside global unicast 2000::/3: reserved
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback() // 127/8
        || v4.is_private() // 10/8, 172.16/12, 192.168/16
        || v4.is_link_local() // 169.254/16
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast() // 224/4
        || o[0] == 0 // 0/8 "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 shared (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 IETF protocol assignments
        || (o[0] == 192 && o[1] == 0 && o[2] == 2) // 192.0.2/24 TEST-NET-1
        || (o[0] == 198 && o[1] == 51 && o[2] == 100) // TEST-NET-2
        || (o[0] == 203 && o[1] == 0 && o[2] == 113) // TEST-NET-3
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
        || o[0] >= 240 // 240/4 reserved (and 255.255.255.255)
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
    fn refuses_ipv6_forms_that_embed_or_translate_to_ipv4() {
        for bad in [
            // IPv4-compatible (::/96)
            "::127.0.0.1",
            "::a9fe:a9fe",
            "::8.8.8.8",
            // IPv4-mapped
            "::ffff:127.0.0.1",
            "::ffff:a9fe:a9fe",
            "::ffff:100.64.1.1",
            // IPv4-translated
            "::ffff:0:a00:1",
            "::ffff:0:808:808",
            // NAT64
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::a00:1",
            // 6to4 with a forbidden embedded address
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101::1",
            // Teredo (client 10.0.0.1 = inverted f5ff:fffe) and any other Teredo address
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001::1",
            // link-local, site-local, unique-local, multicast, documentation, discard, reserved
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fdff::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "4000::1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["2606:4700::1111", "2002:808:808::1", "2a00:1450:4001::200e", "2001:4860:4860::8888"] {
            assert!(!is_forbidden(ok.parse().unwrap()), "{ok}");
        }
    }

    #[test]
    fn refuses_reserved_and_documentation_ipv4() {
        for bad in [
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "100.127.255.255",
            "0.1.2.3",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["100.128.0.1", "198.20.0.1", "192.0.3.1", "9.9.9.9"] {
            assert!(!is_forbidden(ok.parse().unwrap()), "{ok}");
        }
    }

    #[tokio::test]
    async fn check_url_refuses_bracketed_literals_and_names_resolving_to_loopback() {
        for raw in
            ["https://[::127.0.0.1]/h", "https://[64:ff9b::a00:1]/h", "https://localhost/h", "https://0x7f000001/h"]
        {
            let url = parse_url(raw, false).unwrap();
            assert!(check_url(&url, false).await.is_err(), "{raw}");
        }
    }

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
