//! The client's address behind a trusted balancer. A request that comes straight from a client
//! is keyed (rate limits, log-in throttling, the audit trail, the access log) on its
//! connection's peer. Behind a balancer every peer is the balancer, so the balancer names the
//! client in `X-Forwarded-For`; that header is believed only from the addresses in
//! `CAMPUSHUB_TRUSTED_PROXIES`, since anyone else could write any address there. From a
//! trusted peer, the client is the rightmost address of the last `X-Forwarded-For` that is not
//! itself a trusted proxy (what each proxy appended, read back from the nearest one).

use std::net::IpAddr;

use crate::http::error::ProtoError;

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `ADDRESS` or `ADDRESS/BITS`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or block like 10.0.0.0/8"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { net, bits })
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// One entry of `X-Forwarded-For`: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:443`.
fn entry(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    None
}

/// The client of a request from `peer`: `peer` itself unless it is a trusted proxy that named
/// one in `forwarded_for`. 400 (`BadForwardedFor`) when a trusted proxy sent an entry that is
/// not an address.
pub fn client(
    trusted: &[Cidr],
    peer: IpAddr,
    forwarded_for: Option<&[u8]>,
) -> Result<IpAddr, ProtoError> {
    let Some(value) = forwarded_for else {
        return Ok(peer);
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return Ok(peer);
    }
    let value = std::str::from_utf8(value).map_err(|_| ProtoError::BadForwardedFor)?;
    let mut nearest = peer;
    for part in value.rsplit(',') {
        let ip = entry(part).ok_or(ProtoError::BadForwardedFor)?;
        if !is_trusted(ip) {
            return Ok(ip);
        }
        nearest = ip;
    }
    // Every hop was a trusted proxy: the farthest one is the client as far as anyone knows.
    Ok(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let lo = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains(ip("127.0.0.1")) && lo.contains(ip("127.255.0.9")));
        assert!(!lo.contains(ip("128.0.0.1")) && !lo.contains(ip("::1")));
        assert!(
            lo.contains(ip("::ffff:127.0.0.1")),
            "v4-mapped is the v4 address"
        );
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let one = Cidr::parse("10.1.2.3").unwrap();
        assert!(one.contains(ip("10.1.2.3")) && !one.contains(ip("10.1.2.4")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "example.edu",
            "10.0.0/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_believed_only_from_a_trusted_proxy() {
        let trusted = [
            Cidr::parse("127.0.0.1").unwrap(),
            Cidr::parse("10.0.0.0/8").unwrap(),
        ];
        let xff = |s: &'static str| Some(s.as_bytes());
        // A client straight to the server cannot pick its address.
        assert_eq!(
            client(&trusted, ip("198.51.100.4"), xff("203.0.113.7")),
            Ok(ip("198.51.100.4"))
        );
        // Nothing is trusted when nothing is configured.
        assert_eq!(
            client(&[], ip("127.0.0.1"), xff("203.0.113.7")),
            Ok(ip("127.0.0.1"))
        );
        // From the balancer: the address it appended.
        assert_eq!(
            client(&trusted, ip("127.0.0.1"), xff("203.0.113.7")),
            Ok(ip("203.0.113.7"))
        );
        assert_eq!(client(&trusted, ip("127.0.0.1"), None), Ok(ip("127.0.0.1")));
        // A forged entry on the left is skipped over: the rightmost untrusted one counts.
        assert_eq!(
            client(
                &trusted,
                ip("127.0.0.1"),
                xff("1.1.1.1, 203.0.113.7, 10.0.0.5")
            ),
            Ok(ip("203.0.113.7"))
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            client(&trusted, ip("127.0.0.1"), xff("[2001:db8::1]:443")),
            Ok(ip("2001:db8::1"))
        );
        assert_eq!(
            client(&trusted, ip("127.0.0.1"), xff("203.0.113.7:5000")),
            Ok(ip("203.0.113.7"))
        );
        // Only proxies: the farthest.
        assert_eq!(
            client(&trusted, ip("127.0.0.1"), xff("10.0.0.9, 10.0.0.5")),
            Ok(ip("10.0.0.9"))
        );
        // Garbage from a trusted proxy is a bad request, never a guess.
        for bad in ["", "unknown", "203.0.113.7, nonsense", "1.2.3.4\0"] {
            assert_eq!(
                client(&trusted, ip("127.0.0.1"), Some(bad.as_bytes())),
                Err(ProtoError::BadForwardedFor),
                "{bad:?}"
            );
        }
    }
}
