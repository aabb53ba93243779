//! DOC: what one session (and a [`crate::peer::Peer`]) is configured with: identities, timers,
//! capabilities to announce and require, graceful restart and max-prefix limits; and the OPEN
//! built from it.
//!
//! Defaults follow BIRD 2 as Calico configures it (`connect delay time 2; connect retry time 5;
//! error wait time 5,30; graceful restart;` hold time 240 s, keepalive hold/3, restart time
//! 120 s), so a Calico node's behaviour is the default one.

use std::net::Ipv4Addr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::wire::{AddPathMode, Capability, Family, GracefulRestartCap, Open};

/// Graceful restart settings (RFC 4724, RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart Time announced to the peer: how long it should keep our routes after our session
    /// drops (BIRD `graceful restart time`, default 120 s; 12 bits on the wire, so at most 4095).
    pub restart_time: u16,
    /// R bit: we have just restarted (the daemon sets this when started in recovery mode, BIRD's
    /// `-R`); the peer then keeps our routes until our End-of-RIB.
    pub restarting: bool,
    /// F bit for every announced family: our forwarding state survived the restart.
    pub forwarding_preserved: bool,
    /// N bit (RFC 8538): graceful restart also applies to NOTIFICATIONs other than Hard Reset.
    pub notification: bool,
    /// Helper side: the longest we keep a restarted peer's stale routes once its session is
    /// back, waiting for its End-of-RIB (RFC 4724 §4.2's optional upper bound; FRR's
    /// `stalepath-time`, default 360 s).
    pub stale_time: Duration,
    /// Helper only (BIRD's `graceful restart aware`): the capability is announced with restart
    /// time 0, no flags and no families (RFC 4724 §3 allows a speaker to be a receiving speaker
    /// only), so the peer keeps nothing for us when we restart; we still keep its routes when
    /// it restarts.
    pub aware_only: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            forwarding_preserved: true,
            notification: false,
            stale_time: Duration::from_secs(360),
            aware_only: false,
        }
    }
}

/// A maximum number of prefixes accepted from the peer for one family (RFC 4486 Cease 6/1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPrefix {
    /// The family the limit applies to.
    pub family: Family,
    /// The largest number of distinct prefixes (path identifiers counted apart) accepted.
    pub limit: u32,
    /// Restart the session automatically this long after the limit tore it down; `None` keeps
    /// it down until a manual start.
    pub restart_after: Option<Duration>,
}

/// A session's configuration. Build with [`SessionConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The peer's AS; `None` accepts any (the owner checks ranges of dynamic neighbours).
    pub peer_as: Option<u32>,
    /// Never initiate a connection; only accept (BIRD `passive on`).
    pub passive: bool,
    /// Hold time we propose, in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// Keepalive interval; `None` is a third of the negotiated hold time (BIRD `keepalive
    /// time`). Never more than a third of the negotiated hold time.
    pub keepalive_time: Option<u16>,
    /// The smallest non-zero hold time we accept from the peer (at least 3).
    pub min_hold_time: u16,
    /// The hold timer while waiting for the peer's OPEN: RFC 4271 §8.2.2 suggests 4 minutes.
    pub open_hold_time: Duration,
    /// Delay between a start and the first connection attempt (BIRD `connect delay time`).
    pub connect_delay: Duration,
    /// ConnectRetry: between failed connection attempts (BIRD `connect retry time`).
    pub connect_retry: Duration,
    /// IdleHold after an error: the first and the largest delay before an automatic restart;
    /// the delay doubles on each consecutive error (BIRD `error wait time 5,30`).
    pub error_wait: (Duration, Duration),
    /// Errors further apart than this do not count as consecutive (BIRD `error forget time`).
    pub error_forget: Duration,
    /// RFC 4271 §10: "jitter should be applied to the timers associated with ...
    /// ConnectRetryTimer": scale the connect delay, ConnectRetry and the error IdleHold by a
    /// factor in [0.75, 1], drawn from the local identifier and a counter. Two speakers started
    /// together then do not keep connecting at the same instant (each collision would cost
    /// both sessions). Off by default (exact timers); the daemon turns it on.
    pub jitter: bool,
    /// DelayOpen (RFC 4271 §8.1.1 option): wait this long for the peer's OPEN before sending ours.
    pub delay_open: Option<Duration>,
    /// Families announced in the multiprotocol capability.
    pub families: Vec<Family>,
    /// Announce route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Announce enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Announce extended messages (RFC 8654).
    pub extended_message: bool,
    /// ADD-PATH modes per family (RFC 7911; BIRD `add paths`).
    pub add_path: Vec<(Family, AddPathMode)>,
    /// Graceful restart, if enabled.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Capabilities the peer must announce (NOTIFICATION 2/7 otherwise).
    pub required_capabilities: Vec<Capability>,
    /// Max-prefix limits per family.
    pub max_prefixes: Vec<MaxPrefix>,
    /// Check that an external peer's AS_PATH starts with its AS (RFC 4271 §6.3).
    pub enforce_first_as: bool,
    /// Always send End-of-RIB after the initial table, even to a peer without graceful restart
    /// (RFC 4724 §2 allows it; BIRD and FRR do it).
    pub always_send_end_of_rib: bool,
    /// The TTL the session's connections send with and the GTSM minimum (RFC 5082): a driver
    /// opens and accepts connections with it ([`TtlPolicy::for_peer`]; by default one hop for
    /// eBGP, 64 for iBGP, no GTSM).
    pub ttl: super::TtlPolicy,
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// RFC 4271 §4.2: "the Hold Time MUST be either zero or at least three seconds".
    #[error("hold time must be 0 or at least 3 seconds")]
    HoldTime,
    /// The BGP identifier must not be 0.0.0.0 (RFC 6286 §2.1).
    #[error("BGP identifier must not be 0.0.0.0")]
    RouterId,
    /// AS 0 is reserved (RFC 7607).
    #[error("AS 0 is reserved")]
    AsZero,
    /// The restart time is a 12-bit field.
    #[error("graceful restart time must be at most 4095 seconds")]
    RestartTime,
    /// The error wait minimum exceeds the maximum.
    #[error("error wait minimum exceeds its maximum")]
    ErrorWait,
}

impl SessionConfig {
    /// A configuration with Calico's BIRD defaults: IPv4 and IPv6 unicast, route refresh and
    /// enhanced route refresh, graceful restart (120 s), hold 240 s, connect delay 2 s, connect
    /// retry 5 s, error wait 5–30 s.
    pub fn new(local_as: u32, local_id: Ipv4Addr, peer_as: Option<u32>) -> Self {
        SessionConfig {
            local_as,
            local_id,
            peer_as,
            passive: false,
            hold_time: 240,
            keepalive_time: None,
            min_hold_time: 3,
            open_hold_time: Duration::from_secs(240),
            connect_delay: Duration::from_secs(2),
            connect_retry: Duration::from_secs(5),
            error_wait: (Duration::from_secs(5), Duration::from_secs(30)),
            error_forget: Duration::from_secs(300),
            jitter: false,
            delay_open: None,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_message: false,
            add_path: Vec::new(),
            graceful_restart: Some(GracefulRestartConfig::default()),
            required_capabilities: Vec::new(),
            max_prefixes: Vec::new(),
            enforce_first_as: true,
            always_send_end_of_rib: true,
            ttl: super::TtlPolicy::for_peer(peer_as.is_some_and(|p| p != local_as), None, false),
        }
    }

    /// Checks the values the RFCs constrain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(ConfigError::HoldTime);
        }
        if self.local_id.is_unspecified() {
            return Err(ConfigError::RouterId);
        }
        if self.local_as == 0 || self.peer_as == Some(0) {
            return Err(ConfigError::AsZero);
        }
        if self
            .graceful_restart
            .as_ref()
            .is_some_and(|g| g.restart_time > 0x0fff)
        {
            return Err(ConfigError::RestartTime);
        }
        if self.error_wait.0 > self.error_wait.1 {
            return Err(ConfigError::ErrorWait);
        }
        Ok(())
    }

    /// The OPEN this configuration sends.
    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if self.graceful_restart.as_ref().is_some_and(|g| g.aware_only) {
            caps.push(Capability::GracefulRestart(GracefulRestartCap {
                restart_state: false,
                notification: false,
                restart_time: 0,
                families: Vec::new(),
            }));
        } else if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(GracefulRestartCap {
                restart_state: gr.restarting,
                notification: gr.notification,
                restart_time: gr.restart_time.min(0x0fff),
                families: self
                    .families
                    .iter()
                    .map(|f| (*f, gr.forwarding_preserved))
                    .collect(),
            }));
        }
        caps.push(Capability::FourOctetAs(self.local_as));
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path.clone()));
        }
        Open::new(self.local_as, self.hold_time, self.local_id, caps)
    }

    /// The max-prefix limit for `family`, if any.
    pub fn max_prefix(&self, family: Family) -> Option<&MaxPrefix> {
        self.max_prefixes.iter().find(|m| m.family == family)
    }
}

impl super::Settings {
    /// The settings of `config`, shared with every live holder of equal ones (all the dynamic
    /// neighbours of a range, usually the peers of a mesh): one configuration and one OPEN
    /// instead of ~0.7 KB for each (issue 19). Settings no holder uses any more leave the
    /// process-wide cache when the next new ones come.
    pub fn shared(config: SessionConfig) -> Result<super::Settings, super::ConfigError> {
        static CACHE: Mutex<Vec<super::Settings>> = Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = cache.iter().find(|s| *s.config() == config) {
            return Ok(s.clone());
        }
        cache.retain(super::Settings::is_shared);
        let s = super::Settings::new(config)?;
        cache.push(s.clone());
        Ok(s)
    }

    /// [`Settings::shared`], or when `config` is invalid, the defaults of a configuration with
    /// its AS numbers and router id (each made valid: AS 0 becomes 1 locally and "any" for the
    /// peer, router id 0.0.0.0 becomes 0.0.0.1) and the error: a driver keeps running a peer
    /// whose settings could not be checked before it started.
    ///
    /// [`Settings::shared`]: super::Settings::shared
    pub fn shared_or_defaults(
        config: SessionConfig,
    ) -> (super::Settings, Option<super::ConfigError>) {
        let (local_as, local_id, peer_as) = (config.local_as, config.local_id, config.peer_as);
        match super::Settings::shared(config) {
            Ok(s) => (s, None),
            Err(e) => {
                let id = match local_id.is_unspecified() {
                    true => Ipv4Addr::new(0, 0, 0, 1),
                    false => local_id,
                };
                let c = SessionConfig::new(local_as.max(1), id, peer_as.filter(|a| *a != 0));
                // Valid by construction (what `validate` checks is set above or a default).
                let s = super::Settings {
                    open: std::sync::Arc::new(c.open()),
                    config: std::sync::Arc::new(c),
                };
                (s, Some(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;

    #[test]
    fn equal_session_settings_are_built_once_and_shared() {
        // A local AS no other test uses: the cache is the process's.
        let a = SessionConfig::new(64_999, Ipv4Addr::new(10, 9, 9, 1), Some(65_000));
        let s1 = Settings::shared(a.clone()).unwrap();
        let s2 = Settings::shared(a.clone()).unwrap();
        assert!(std::ptr::eq(s1.config(), s2.config()));
        assert!(s1.is_shared());
        let mut b = a;
        b.peer_as = Some(65_001);
        let s3 = Settings::shared(b).unwrap();
        assert!(!std::ptr::eq(s1.config(), s3.config()));
        assert_eq!(s3.config().peer_as, Some(65_001));
    }

    #[test]
    fn invalid_settings_fall_back_to_valid_defaults_with_the_error() {
        let mut c = SessionConfig::new(64_998, Ipv4Addr::new(10, 9, 9, 2), Some(65_000));
        c.hold_time = 1;
        let (s, e) = Settings::shared_or_defaults(c);
        assert_eq!(e, Some(super::super::ConfigError::HoldTime));
        assert_eq!(
            (s.config().local_as, s.config().peer_as),
            (64_998, Some(65_000))
        );
        assert_eq!(s.config().local_id, Ipv4Addr::new(10, 9, 9, 2));
        assert!(s.config().validate().is_ok());
        // Zeros become valid values.
        let c = SessionConfig::new(0, Ipv4Addr::UNSPECIFIED, Some(0));
        let (s, e) = Settings::shared_or_defaults(c);
        assert!(e.is_some());
        assert_eq!((s.config().local_as, s.config().peer_as), (1, None));
        assert_eq!(s.config().local_id, Ipv4Addr::new(0, 0, 0, 1));
        assert!(s.config().validate().is_ok());
        // Valid ones are the shared ones.
        let c = SessionConfig::new(64_998, Ipv4Addr::new(10, 9, 9, 3), Some(65_000));
        let (a, e) = Settings::shared_or_defaults(c.clone());
        assert!(e.is_none());
        assert!(std::ptr::eq(
            a.config(),
            Settings::shared(c).unwrap().config()
        ));
    }
}
